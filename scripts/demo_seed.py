#!/usr/bin/python3
"""Fills a Chroma server with a small, realistic sample: three collections (cosine, l2, ip) of
clustered embeddings with documents in several languages, typed metadata, some uris.
Usage: demo_seed.py CHROMA_URL [RECORDS_PER_COLLECTION]   (standard library only)"""
import json
import random
import struct
import sys
import urllib.request

API = "/api/v2/tenants/default_tenant/databases/default_database"
TOPICS = ["billing", "shipping", "returns", "accounts", "security", "pricing", "api", "mobile"]
LANGS = [("en", "How do I reset my password?"), ("es", "¿Cómo cambio mi dirección de envío?"),
         ("de", "Wie storniere ich eine Bestellung?"), ("ja", "請求書はどこで確認できますか？"),
         ("fr", "Puis-je payer en plusieurs fois ?"), ("pt", "Qual é o prazo de devolução?")]


def call(url, method, path, body=None):
    req = urllib.request.Request(url + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def main():
    url = sys.argv[1].rstrip("/")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    rng = random.Random(42)
    for name, space, dim in (("support_articles", "cosine", 384), ("faq", "l2", 128), ("products", "ip", 64)):
        try:
            call(url, "DELETE", API + "/collections/" + name)
        except Exception:
            pass
        col = call(url, "POST", API + "/collections",
                   {"name": name, "metadata": {"source": "chroma2pg demo", "version": 1, "quality": 0.95},
                    "configuration": {"hnsw": {"space": space}}})
        centres = [[rng.gauss(0, 1) for _ in range(dim)] for _ in range(40)]
        step = 500
        for start in range(0, n, step):
            ids, embs, docs, metas, uris = [], [], [], [], []
            for i in range(start, min(n, start + step)):
                c = rng.randrange(len(centres))
                lang, text = LANGS[i % len(LANGS)]
                ids.append("%s-%05d" % (name, i))
                embs.append([f32(x + rng.gauss(0, 0.1)) for x in centres[c]])
                docs.append(None if i % 13 == 0 else "%s (#%d, %s)" % (text, i, TOPICS[c % len(TOPICS)]))
                metas.append({"topic": TOPICS[c % len(TOPICS)], "lang": lang, "views": rng.randrange(10000),
                              "score": round(rng.random(), 4), "published": i % 3 != 0})
                uris.append("https://help.example.com/%s/%d" % (lang, i) if i % 4 == 0 else None)
            call(url, "POST", API + "/collections/%s/add" % col["id"],
                 {"ids": ids, "embeddings": embs, "documents": docs, "metadatas": metas, "uris": uris})
        print("seeded %s: %d records, %d dimensions, %s" % (name, n, dim, space))


if __name__ == "__main__":
    main()
