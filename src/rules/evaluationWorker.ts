/**
 * Worker-thread entry of the rule-evaluation pool (RuleEvaluator.ts). Loaded by Node directly, with its
 * built-in TypeScript type stripping, so it and its imports must stay erasable syntax only.
 */
import { parentPort } from "node:worker_threads"
import { type EvaluationTask, runTask, type TaskMessage } from "./evaluationTask.ts"

const isTask = (value: unknown): value is EvaluationTask =>
  typeof value === "object" &&
  value !== null &&
  "id" in value &&
  typeof value.id === "number" &&
  "kind" in value &&
  (value.kind === "test" || value.kind === "plan") &&
  "rules" in value &&
  Array.isArray(value.rules) &&
  "subjects" in value &&
  Array.isArray(value.subjects)

const port = parentPort
if (port === null) throw new Error("evaluationWorker.ts must run in a worker thread")

port.on("message", (message: unknown) => {
  if (!isTask(message)) return
  runTask(message, (reply) => port.postMessage(reply))
})
const ready: TaskMessage = { id: 0, type: "ready" }
port.postMessage(ready)
