#!/usr/bin/env bash
# Fetches every page of a collection with curl and throws the bytes away: the time the Chroma
# server itself needs to serve the data, with no client work. Usage: fetch_pages.sh URL ID COUNT [PAGE]
set -euo pipefail
url="$1" id="$2" count="$3" page="${4:-1000}"
api="/api/v2/tenants/default_tenant/databases/default_database/collections/$id/get"
for ((off = 0; off < count; off += page)); do
  curl -sf -o /dev/null -H 'Content-Type: application/json' -X POST "$url$api" \
    -d "{\"limit\":$page,\"offset\":$off,\"include\":[\"embeddings\",\"documents\",\"metadatas\",\"uris\"]}"
done
