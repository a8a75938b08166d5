#!/usr/bin/python3
"""Makes a large Chroma persistent directory fast, for memory benchmarks at 1,000,000 records.

A real Chroma server creates the directory, the collection and its first record (so schema,
segments and topic are Chroma's own); the remaining records are appended to Chroma's write-ahead
log (`embeddings_queue`) in exactly the shape that first record has — an unflushed directory, as
most real ones are (see shared fixtures). Adding 1M records through the server would take ~15 min.
Usage: make_large_dir.py OUT_DIR RECORDS DIM"""
import os
import random
import sqlite3
import struct
import subprocess
import sys
import json
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API = "/api/v2/tenants/default_tenant/databases/default_database"


def call(url, method, path, body=None):
    req = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def main():
    out, n, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.makedirs(out, exist_ok=True)
    script = os.path.join(REPO, "scripts/chroma-server.sh")
    url = subprocess.check_output([script, "start", out], text=True).strip()
    try:
        col = call(url, "POST", API + "/collections", {"name": "large", "configuration": {"hnsw": {"space": "l2"}}})
        call(url, "POST", API + "/collections/%s/add" % col["id"],
             {"ids": ["doc-00000000"], "embeddings": [[0.5] * dim], "documents": ["first"],
              "metadatas": [{"page": 0}]})
    finally:
        subprocess.run([script, "stop", out], check=True)
    db = sqlite3.connect(os.path.join(out, "chroma.sqlite3"))
    topic, encoding = db.execute("SELECT topic, encoding FROM embeddings_queue ORDER BY seq_id DESC LIMIT 1").fetchone()
    rng = random.Random(7)
    centres = [[rng.gauss(0, 1) for _ in range(dim)] for _ in range(256)]
    packer = struct.Struct("<%df" % dim)
    batch = []
    for i in range(1, n):
        c = centres[i % 256]
        vec = packer.pack(*[x + rng.random() * 0.1 for x in c])
        meta = json.dumps({"chroma:document": "chunk %d of document %d" % (i % 50, i // 50), "page": i % 50,
                           "score": (i % 1000) / 1000.0, "public": i % 2 == 0})
        batch.append((topic, "doc-%08d" % i, vec, encoding, meta))
        if len(batch) == 20000:
            db.executemany("INSERT INTO embeddings_queue (operation, topic, id, vector, encoding, metadata) "
                           "VALUES (0, ?, ?, ?, ?, ?)", batch)
            db.commit()
            batch = []
    if batch:
        db.executemany("INSERT INTO embeddings_queue (operation, topic, id, vector, encoding, metadata) "
                       "VALUES (0, ?, ?, ?, ?, ?)", batch)
        db.commit()
    db.close()
    print("%s: %d records x %d" % (out, n, dim))


if __name__ == "__main__":
    main()
