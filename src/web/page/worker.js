// Runs graft off the page's main thread: large files are read and converted here, and the page
// stays responsive and paints the progress bar from the messages this worker posts.
import * as graft from './graft.js';

/** The report as plain data: the plan and a dry run's refusal carry objects that do not cross threads. */
function plainReport(report) {
  const { plan, refusal, ...rest } = report;
  return JSON.parse(JSON.stringify(rest));
}

self.onmessage = async (ev) => {
  const { id, op, args } = ev.data;
  try {
    if (op === 'inspect') {
      const info = await graft.inspectInMemory(args.source, args.companions, { key: args.key });
      self.postMessage({ id, result: JSON.parse(JSON.stringify(info)) });
    } else if (op === 'convert') {
      const r = await graft.convertInMemory({ ...args, onProgress: (p) => self.postMessage({ id, progress: p }) });
      // The shards are views into weightData: transferring it moves them all without a copy.
      self.postMessage({
        id,
        result: { report: plainReport(r.report), modelJson: r.modelJson, files: r.files, weightSpecs: r.weightSpecs, weightData: r.weightData },
      }, [r.weightData]);
    } else {
      throw new Error(`unknown operation ${op}`);
    }
  } catch (e) {
    self.postMessage({ id, error: graft.formatError(e) });
  }
};
self.postMessage({ ready: true, version: graft.VERSION });
