/**
 * An evaluation worker with two faults, for the pool's recovery tests: a message whose subject is
 * "hang" blocks the thread for ever, "crash" ends it. Every other message is evaluated by the real code.
 */
import { parentPort } from "node:worker_threads"
import { Result } from "effect"
import { type CompiledRule, compileRuleResult } from "../../../src/rules/evaluate.ts"
import { type EvaluationTask, evaluateOne, type TaskMessage } from "../../../src/rules/evaluationTask.ts"

const port = parentPort
if (port === null) throw new Error("faultyEvaluationWorker.ts must run in a worker thread")

port.on("message", (task: EvaluationTask) => {
  const rules: Array<CompiledRule> = []
  for (const rule of task.rules) {
    const compiled = compileRuleResult(rule.input, { id: rule.id })
    if (Result.isSuccess(compiled)) rules.push(compiled.success)
  }
  task.subjects.forEach((subject, index) => {
    if (subject.subject === "hang") for (;;) {}
    if (subject.subject === "crash") process.exit(3)
    const reply: TaskMessage = { id: task.id, type: "result", index, outcome: evaluateOne(task.kind, rules, subject) }
    port.postMessage(reply)
  })
  const done: TaskMessage = { id: task.id, type: "done", evaluated: task.subjects.length, stopped: null }
  port.postMessage(done)
})
const ready: TaskMessage = { id: 0, type: "ready" }
port.postMessage(ready)
