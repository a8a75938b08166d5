#!/bin/sh
# chroma2pg image entrypoint: secrets from files, then chroma2pg itself.
#
# For each of PGPASSWORD, CHROMA_TOKEN, CHROMA_API_KEY and CHROMA2PG_<NAME> (e.g. CHROMA2PG_TOKEN,
# CHROMA2PG_TO for a URL carrying a password), VAR_FILE=/path sets VAR to the file's content
# (without its trailing newline), as the postgres image does for POSTGRES_PASSWORD_FILE: compose or
# Kubernetes secrets mounted under /run/secrets never appear in the environment of `docker inspect`.
# VAR and VAR_FILE both non-empty is an error: which one is meant would be a guess.
set -eu

for file_var in $(env | sed -n 's/^\(PGPASSWORD_FILE\|CHROMA_TOKEN_FILE\|CHROMA_API_KEY_FILE\|CHROMA2PG_[A-Z0-9_]*_FILE\)=.*/\1/p'); do
    var=${file_var%_FILE}
    eval "path=\${$file_var}"
    eval "value=\${$var:-}"
    [ -n "$path" ] || continue
    if [ -n "$value" ]; then
        echo "chroma2pg entrypoint: both $var and $file_var are set; set only one" >&2
        exit 2
    fi
    if [ ! -r "$path" ]; then
        echo "chroma2pg entrypoint: $file_var=$path: missing, or not readable by uid $(id -u)" >&2
        exit 3
    fi
    value=$(cat "$path") # $(...) drops the trailing newline(s)
    export "$var=$value"
    unset "$file_var"
done

exec chroma2pg "$@"
