import type { Command } from 'commander';
import { GraftError } from '../../errors';
import { printOut, reportError } from '../run';

export function registerWeb(program: Command): void {
  program
    .command('web')
    .description('Serve the converter page on 127.0.0.1: files convert in the browser and are never uploaded anywhere')
    .option('--port <n>', 'port to listen on; 0 picks a free one', '8080')
    .action(async (flags: { port: string }) => {
      try {
        if (!/^\d+$/.test(flags.port)) throw new GraftError('USAGE', `--port must be a whole number from 0 to 65535, not ${JSON.stringify(flags.port)}`);
        // Loaded here: node:http and the server are needed by this command only, not by every run.
        const { startWebServer } = await import('../web-server');
        const running = await startWebServer({ port: Number(flags.port) });
        printOut(`graft: the converter page is at ${running.url} (files stay in your browser; Ctrl-C stops the server)`);
        await new Promise<void>((resolve) => {
          const stop = () => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            void running.close().then(resolve);
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
        process.exitCode = 0;
      } catch (e) {
        process.exitCode = reportError(e);
      }
    });
}
