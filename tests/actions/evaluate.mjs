// Evaluates GitHub Actions expressions with GitHub's own library (@actions/expressions, from
// actions/languageservices): stdin is a JSON list of {expression, context, status}, stdout the
// JSON list of results (true/false for a job's `if:`). `status` gives the job-status functions
// (success, failure, cancelled, always), which the runner supplies and the library leaves to
// its caller; tests/expressions.py computes them as the runner does and adds the implicit
// `success() &&` of an `if:` without one.
import { readFileSync } from "node:fs";
import { Evaluator, Lexer, Parser, data } from "@actions/expressions";
import { truthy } from "@actions/expressions/result";

const cases = JSON.parse(readFileSync(0, "utf8"));
const results = cases.map(({ expression, context, status }) => {
  const lexed = new Lexer(expression).lex();
  const statusFunctions = ["success", "failure", "cancelled", "always"].map((name) => ({
    name, minArgs: 0, maxArgs: 0, call: () => new data.BooleanData(Boolean(status[name])),
  }));
  const parsed = new Parser(lexed.tokens, Object.keys(context), statusFunctions).parse();
  const contextData = JSON.parse(JSON.stringify(context), data.reviver);
  const value = new Evaluator(parsed, contextData, new Map(statusFunctions.map((f) => [f.name, f]))).evaluate();
  return truthy(value);
});
process.stdout.write(JSON.stringify(results));
