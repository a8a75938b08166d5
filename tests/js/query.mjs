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
//
// C is langchainjs | llamaindex-ts | mastra. --filter is the client's own filter object (LangChain.js
// `{key: value | {gt: n}}`, LlamaIndex TS `MetadataFilters` `{filters: [{key, value, operator}]}`,
// Mastra `{key: {$eq: v}}`), passed through untouched; --filters is a file of one such filter (or null)
// per query vector, so that one run (one start of node and the client) asks every query. Records are
// [{id, embedding, document, metadata}]; a document of null is given to the client as it accepts.
// Output (stdout, JSON): query → {"results": [[{id, score, distance?, document, metadata}, …] per
// query vector]}, scores and distances exactly as the client reports them; add → {"ids": [...]};
// describe → {"indexes": [...], "describe": {...}}.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const tools = process.env.CHROMA2PG_TOOLS_DIR ?? path.resolve(here, "..", "..", ".tools");
const modules = process.env.C2P_JS_MODULES ?? path.join(tools, "js", "node_modules");
// Every client is loaded from the pinned tree, all through one loader (one copy of each class).
const load = createRequire(path.join(modules, "c2p-loader.cjs"));

function parseArgs(argv) {
  const [mode, ...rest] = argv;
  const opts = { mode };
  for (let i = 0; i < rest.length; i += 2) {
    if (!rest[i].startsWith("--") || rest[i + 1] === undefined) usage(`bad argument ${rest[i]}`);
    opts[rest[i].slice(2)] = rest[i + 1];
  }
  for (const need of ["client", "pg", "config"]) if (opts[need] === undefined) usage(`--${need} is required`);
  return opts;
}

function usage(msg) {
  process.stderr.write(`query.mjs: ${msg}\n`);
  process.exit(2);
}

const readJson = (file) => JSON.parse(readFileSync(file, "utf8"));

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

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const client = clients[opts.client] ?? usage(`unknown --client ${opts.client} (${Object.keys(clients).join(", ")})`);
  const config = JSON.parse(opts.config);
  const store = await client.open(opts.pg, config);
  let out;
  try {
    if (opts.mode === "query") {
      const vectors = readJson(opts["query-vectors"] ?? usage("--query-vectors is required"));
      const k = Number(opts.k ?? 10);
      if (opts.filter !== undefined && opts.filters !== undefined) usage("--filter and --filters exclude each other");
      const filter = opts.filter === undefined ? undefined : JSON.parse(opts.filter);
      const filters = opts.filters === undefined ? null : readJson(opts.filters);
      if (filters && filters.length !== vectors.length) usage(`--filters has ${filters.length} entries for ${vectors.length} query vectors`);
      const results = [];
      for (const [i, v] of vectors.entries()) {
        results.push(await client.query(store, v, k, filters ? (filters[i] ?? undefined) : filter, config));
      }
      out = { results };
    } else if (opts.mode === "add") {
      out = { ids: await client.add(store, readJson(opts.records ?? usage("--records is required")), config) };
    } else if ((opts.mode === "describe" || opts.mode === "create") && client[opts.mode]) {
      out = await client[opts.mode](store, config, opts);
    } else {
      usage(`mode ${opts.mode} is not available for ${opts.client}`);
    }
  } finally {
    await client.close(store);
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
  process.stderr.write(`query.mjs: ${e?.stack ?? e}\n${e?.cause ? `cause: ${e.cause.stack ?? e.cause}\n` : ""}`);
  process.exit(1);
});
