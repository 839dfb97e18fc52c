import { generateText, streamText, tool, stepCountIs } from "ai";
import { createOpenAI } from "@ai-sdk/openai";
import { z } from "zod";

const [baseURL, model, mode] = process.argv.slice(2);
const openai = createOpenAI({ baseURL, apiKey: "unused" });
const tools = {
  get_weather: tool({
    description: "Weather in a city",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => `sunny in ${city}`,
  }),
};
const args = { model: openai(model), tools, stopWhen: stepCountIs(3), prompt: "[sim:tools]" };
let result;
if (mode === "stream") {
  const streamed = streamText(args);
  let text = "";
  for await (const delta of streamed.textStream) text += delta;
  result = { text, steps: await streamed.steps, finishReason: await streamed.finishReason, usage: await streamed.totalUsage };
} else {
  result = await generateText(args);
}
const calls = result.steps.flatMap((s) => s.toolCalls.map((c) => [c.toolName, c.input, c.toolCallId]));
const results = result.steps.flatMap((s) => s.toolResults.map((r) => [r.toolCallId, r.output]));
console.log(JSON.stringify({ text: result.text, calls, results, finishReason: result.finishReason,
  steps: result.steps.length, usage: result.usage ?? result.totalUsage }));
