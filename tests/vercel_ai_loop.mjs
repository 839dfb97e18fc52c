// node vercel_ai_loop.mjs <bridge root URL> <provider> <model> <whole|stream>
// provider: openai (Responses), openai-chat, anthropic or google. Runs a plain text prompt, then the
// get_weather tool loop, and prints one JSON object: {"plain": <result>, "tools": <result>}, where a
// result is {text, calls, results, finishReason, steps, usage} or {error} if that run threw.
import { generateText, streamText, tool, stepCountIs } from "ai";
import { createOpenAI } from "@ai-sdk/openai";
import { createAnthropic } from "@ai-sdk/anthropic";
import { createGoogleGenerativeAI } from "@ai-sdk/google";
import { z } from "zod";

const [root, provider, modelId, mode] = process.argv.slice(2);
const apiKey = "unused";
const providers = {
  openai: () => createOpenAI({ baseURL: `${root}/v1`, apiKey })(modelId),
  "openai-chat": () => createOpenAI({ baseURL: `${root}/v1`, apiKey }).chat(modelId),
  anthropic: () => createAnthropic({ baseURL: `${root}/v1`, apiKey })(modelId),
  google: () => createGoogleGenerativeAI({ baseURL: `${root}/v1beta`, apiKey })(modelId),
};
if (!(provider in providers) || !["whole", "stream"].includes(mode)) {
  console.error(`usage: vercel_ai_loop.mjs <root> <${Object.keys(providers).join("|")}> <model> <whole|stream>`);
  process.exit(2);
}
const model = providers[provider]();
const tools = {
  get_weather: tool({
    description: "Weather in a city",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => `sunny in ${city}`,
  }),
};

async function run(args) {
  let result;
  if (mode === "stream") {
    let failure;
    const streamed = streamText({ ...args, onError: ({ error }) => { failure = error; } });
    let text = "";
    for await (const delta of streamed.textStream) text += delta;
    if (failure) throw failure;
    result = { text, steps: await streamed.steps, finishReason: await streamed.finishReason,
      usage: await streamed.totalUsage };
  } else {
    result = await generateText(args);
  }
  const calls = result.steps.flatMap((s) => s.toolCalls.map((c) => [c.toolName, c.input, c.toolCallId]));
  const results = result.steps.flatMap((s) => s.toolResults.map((r) => [r.toolCallId, r.output]));
  return { text: result.text, calls, results, finishReason: result.finishReason, steps: result.steps.length,
    usage: result.totalUsage ?? result.usage };
}

async function attempt(args) {
  try {
    return await run(args);
  } catch (error) {
    return { error: `${error?.name}: ${error?.message}`, responseBody: error?.responseBody,
      statusCode: error?.statusCode };
  }
}

const plain = await attempt({ model, maxRetries: 0, prompt: "Say hello." });
const loop = await attempt({ model, maxRetries: 0, tools, stopWhen: stepCountIs(3), prompt: "[sim:tools]" });
console.log(JSON.stringify({ plain, tools: loop }));
