#!/usr/bin/env node
// Reads (and for probing writes) a pgvector store through a framework's own JS client, configured
// only with the client_config object a user would paste. Run with the pinned node
// (scripts/install-js-clients.sh --node); the clients are loaded from .tools/js
// (CHROMA2PG_TOOLS_DIR or C2P_JS_MODULES override where).
//
//   query.mjs query    --client C --pg URL --config JSON --query-vectors FILE --k N [--filter JSON | --filters FILE]
//   query.mjs add      --client C --pg URL --config JSON --records FILE
//   query.mjs describe --client mastra --pg URL --config JSON
//   query.mjs create   --client mastra --pg URL --config JSON --dimension N [--metric M]
//   query.mjs serve    one request a line on stdin, one answer a line on stdout (below)
//
// C is langchainjs | llamaindex-ts | mastra. --filter is the client's own filter object (LangChain.js
// `{key: value | {gt: n}}`, LlamaIndex TS `MetadataFilters` `{filters: [{key, value, operator}]}`,
// Mastra `{key: {$eq: v}}`), passed through untouched; --filters is a file of one such filter (or null)
// per query vector, so that one run (one start of node and the client) asks every query. Records are
// [{id, embedding, document, metadata}]; a document of null is given to the client as it accepts.
// Output (stdout, JSON): query → {"results": [[{id, score, distance?, document, metadata}, …] per
// query vector]}, scores and distances exactly as the client reports them; add → {"ids": [...]};
// describe → {"indexes": [...], "describe": {...}}.
// serve: each request is {"mode", "client", "pg", "config": {...}, "query_vectors": [...], "k", "filter",
// "filters": [...], "records": [...], "dimension", "metric"} (the options above, given inline), and each
// answer {"ok": output} or {"error": message}. Node and the clients load once for a whole test run:
// a start costs ~1 s (Mastra), a query milliseconds. Every request opens and closes its own store.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import readline from "node:readline";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const tools = process.env.CHROMA2PG_TOOLS_DIR ?? path.resolve(here, "..", "..", ".tools");
const modules = process.env.C2P_JS_MODULES ?? path.join(tools, "js", "node_modules");
// Every client is loaded from the pinned tree, all through one loader (one copy of each class).
const load = createRequire(path.join(modules, "c2p-loader.cjs"));

class UsageError extends Error {}
function usage(msg) {
  throw new UsageError(msg);
}

const readJson = (file) => JSON.parse(readFileSync(file, "utf8"));

// The command line's options as a request: files read, JSON parsed.
function parseArgs(argv) {
  const [mode, ...rest] = argv;
  const args = {};
  for (let i = 0; i < rest.length; i += 2) {
    if (!rest[i].startsWith("--") || rest[i + 1] === undefined) usage(`bad argument ${rest[i]}`);
    args[rest[i].slice(2)] = rest[i + 1];
  }
  for (const need of ["client", "pg", "config"]) if (args[need] === undefined) usage(`--${need} is required`);
  const req = { mode, client: args.client, pg: args.pg, config: JSON.parse(args.config), k: args.k,
    dimension: args.dimension, metric: args.metric };
  if (args["query-vectors"] !== undefined) req.query_vectors = readJson(args["query-vectors"]);
  if (args.filter !== undefined) req.filter = JSON.parse(args.filter);
  if (args.filters !== undefined) req.filters = readJson(args.filters);
  if (args.records !== undefined) req.records = readJson(args.records);
  return req;
}

// LangChain.js: PGVectorStore.initialize(embeddings, {postgresConnectionOptions, ...config}).
// The embeddings object is never asked: vectors are given to the store directly.
const langchainjs = {
  async open(pg, config) {
    const { PGVectorStore } = load("@langchain/community/vectorstores/pgvector");
    const { Embeddings } = load("@langchain/core/embeddings");
    class GivenVectors extends Embeddings {
      embedDocuments() { throw new Error("the harness passes vectors; no text is embedded"); }
      embedQuery() { throw new Error("the harness passes vectors; no text is embedded"); }
    }
    return PGVectorStore.initialize(new GivenVectors({}), { postgresConnectionOptions: { connectionString: pg }, ...config });
  },
  async add(store, records) {
    const { Document } = load("@langchain/core/documents");
    // LangChain's Document needs a string pageContent; a null document is given as "".
    const docs = records.map((r) => new Document({ pageContent: r.document ?? "", metadata: r.metadata ?? {} }));
    await store.addVectors(records.map((r) => r.embedding), docs, { ids: records.map((r) => r.id) });
    return records.map((r) => r.id);
  },
  async query(store, vector, k, filter) {
    const hits = await store.similaritySearchVectorWithScore(vector, k, filter);
    return hits.map(([doc, distance]) => ({ id: doc.id, distance, document: doc.pageContent, metadata: doc.metadata }));
  },
  close: (store) => store.end(),
};

// LlamaIndex TS: new PGVectorStore({clientConfig, ...config}); query({queryEmbedding, similarityTopK, filters}).
const llamaindexTs = {
  async open(pg, config) {
    const { PGVectorStore } = load("@llamaindex/postgres");
    const { BaseEmbedding } = load("@llamaindex/core/embeddings");
    class GivenVectors extends BaseEmbedding {
      async getTextEmbedding() { throw new Error("the harness passes vectors; no text is embedded"); }
    }
    return new PGVectorStore({ clientConfig: { connectionString: pg }, embedModel: new GivenVectors(), ...config });
  },
  async add(store, records) {
    const { TextNode } = load("@llamaindex/core/schema");
    const nodes = records.map((r) => new TextNode({ id_: r.id, text: r.document ?? "", metadata: r.metadata ?? {}, embedding: r.embedding }));
    return store.add(nodes);
  },
  async query(store, vector, k, filter) {
    const res = await store.query({ queryEmbedding: vector, similarityTopK: k, mode: "default", filters: filter });
    return res.nodes.map((node, i) => ({
      id: res.ids[i], score: res.similarities[i], document: node.text ?? null, metadata: node.metadata,
    }));
  },
  async close(store) { if (store.db) await store.db.close(); },
};

// Mastra: new PgVector({connectionString, ...config without indexName/namespace});
// query({indexName, queryVector, topK, filter, namespace}).
function mastraParts(config) {
  const { indexName, namespace, ...ctor } = config;
  if (!indexName) usage("mastra's config needs indexName");
  return { indexName, namespace, ctor };
}
const mastra = {
  async open(pg, config) {
    const { PgVector } = load("@mastra/pg");
    const { ctor } = mastraParts(config);
    return new PgVector({ id: "c2p-harness", connectionString: pg, ...ctor });
  },
  async add(store, records, config) {
    const { indexName, namespace } = mastraParts(config);
    return store.upsert({
      indexName, namespace, ids: records.map((r) => r.id), vectors: records.map((r) => r.embedding),
      metadata: records.map((r) => r.metadata ?? {}),
    });
  },
  async query(store, vector, k, filter, config) {
    const { indexName, namespace } = mastraParts(config);
    const hits = await store.query({ indexName, namespace, queryVector: vector, topK: k, filter });
    return hits.map((h) => ({ id: h.id, score: h.score, document: null, metadata: h.metadata }));
  },
  async describe(store, config) {
    const { indexName } = mastraParts(config);
    return { indexes: await store.listIndexes(), describe: await store.describeIndex({ indexName }) };
  },
  async create(store, config, opts) {
    const { indexName } = mastraParts(config);
    await store.createIndex({ indexName, dimension: Number(opts.dimension), metric: opts.metric ?? "cosine" });
    return { created: indexName };
  },
  close: (store) => store.disconnect(),
};

const clients = { langchainjs, "llamaindex-ts": llamaindexTs, mastra };

async function run(req) {
  const client = clients[req.client] ?? usage(`unknown --client ${req.client} (${Object.keys(clients).join(", ")})`);
  const config = req.config;
  const store = await client.open(req.pg, config);
  try {
    if (req.mode === "query") {
      const vectors = req.query_vectors ?? usage("--query-vectors is required");
      const k = Number(req.k ?? 10);
      if (req.filter !== undefined && req.filters !== undefined) usage("--filter and --filters exclude each other");
      const filters = req.filters ?? null;
      if (filters && filters.length !== vectors.length) usage(`--filters has ${filters.length} entries for ${vectors.length} query vectors`);
      const results = [];
      for (const [i, v] of vectors.entries()) {
        results.push(await client.query(store, v, k, filters ? (filters[i] ?? undefined) : req.filter, config));
      }
      return { results };
    }
    if (req.mode === "add") return { ids: await client.add(store, req.records ?? usage("--records is required"), config) };
    if ((req.mode === "describe" || req.mode === "create") && client[req.mode]) return await client[req.mode](store, config, req);
    return usage(`mode ${req.mode} is not available for ${req.client}`);
  } finally {
    await client.close(store);
  }
}

const describeError = (e) => `${e?.stack ?? e}\n${e?.cause ? `cause: ${e.cause.stack ?? e.cause}\n` : ""}`;

async function serve() {
  for await (const line of readline.createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    if (!line.trim()) continue;
    let answer;
    try {
      answer = { ok: await run(JSON.parse(line)) };
    } catch (e) {
      answer = { error: e instanceof UsageError ? `usage: ${e.message}` : describeError(e) };
    }
    process.stdout.write(JSON.stringify(answer) + "\n");
  }
}

async function main() {
  if (process.argv[2] === "serve") return serve();
  const out = await run(parseArgs(process.argv.slice(2)));
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
  if (e instanceof UsageError) {
    process.stderr.write(`query.mjs: ${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`query.mjs: ${describeError(e)}`);
  process.exit(1);
});
