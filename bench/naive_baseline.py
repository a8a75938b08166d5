#!/usr/bin/python3
"""The migration script people write today: page Chroma's `get` over HTTP, INSERT with executemany.
Usage: naive_baseline.py CHROMA_URL COLLECTION_ID PG_URL TABLE DIM   (stdlib + python3-psycopg2)"""
import json
import sys
import urllib.request

import psycopg2

API = "/api/v2/tenants/default_tenant/databases/default_database"


def main():
    url, cid, pg_url, table, dim = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    conn = psycopg2.connect(pg_url)
    cur = conn.cursor()
    cur.execute('DROP TABLE IF EXISTS "%s"' % table)
    cur.execute('CREATE TABLE "%s" (id text PRIMARY KEY, embedding vector(%d), document text, uri text, '
                'metadata jsonb)' % (table, dim))
    offset, page, total = 0, 1000, 0
    while True:
        body = json.dumps({"limit": page, "offset": offset,
                           "include": ["embeddings", "documents", "metadatas", "uris"]}).encode()
        req = urllib.request.Request(url + API + "/collections/%s/get" % cid, data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            got = json.loads(r.read())
        n = len(got["ids"])
        rows = [(got["ids"][i], "[" + ",".join(map(str, got["embeddings"][i])) + "]",
                 got["documents"][i], got["uris"][i],
                 None if got["metadatas"][i] is None else json.dumps(got["metadatas"][i])) for i in range(n)]
        cur.executemany('INSERT INTO "%s" VALUES (%%s, %%s::vector, %%s, %%s, %%s::jsonb)' % table, rows)
        total += n
        offset += n
        if n < page:
            break
    conn.commit()
    print(total)


if __name__ == "__main__":
    main()
