# bash completion for chroma2pg: commands, options and option values.
# Read from the binary's own --help texts (cached per shell), so it always matches the installed
# version, including commands added later. Installed as
# /usr/share/bash-completion/completions/chroma2pg; or: source scripts/completion/chroma2pg.bash
#
#   chroma2pg mi<TAB>                 -> migrate
#   chroma2pg migrate --ta<TAB>       -> --tenant
#   chroma2pg migrate --index <TAB>   -> hnsw ivfflat none
#   chroma2pg verify --layout <TAB>   -> native langchain llamaindex   (also sync and migrate)
#   chroma2pg migrate --from <TAB>    -> file names (a persistent or backup directory)

declare -gA _chroma2pg_cache 2>/dev/null || true

# The parsed --help of one command path, one entry a line:
#   "cmd NAME" | "opt NAME VALUE? CHOICES" (VALUE? is 1 when the option takes a value;
#   CHOICES is a comma list from CLI11's "TYPE:{a,b}" or "-").
_chroma2pg_table() {
    local bin="$1" path="$2" key="$1|$2"
    if [[ -z "${_chroma2pg_cache[$key]+set}" ]]; then
        # shellcheck disable=SC2086
        _chroma2pg_cache[$key]="$(ASAN_OPTIONS=detect_leaks=0 "$bin" $path --help 2>/dev/null | awk '
            /^[A-Za-z][A-Za-z ]*:$/ { section = $0; next }
            section == "Subcommands:" && /^  [^ -]/ { print "cmd " $1; next }
            section == "Options:" && /^  -/ {
                takes = 0; choices = "-"
                if ($2 ~ /^[A-Z][A-Z0-9_]*([:=].*)?$/) {
                    takes = 1
                    if (match($2, /:\{[^}]*\}/)) choices = substr($2, RSTART + 2, RLENGTH - 3)
                }
                n = split($1, names, ",")
                for (i = 1; i <= n; i++) print "opt " names[i] " " takes " " choices
            }')"
    fi
    printf '%s\n' "${_chroma2pg_cache[$key]}"
}

_chroma2pg() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="" bin="${COMP_WORDS[0]}"
    ((COMP_CWORD > 0)) && prev="${COMP_WORDS[COMP_CWORD - 1]}"
    # "--opt=val" split at "=" by COMP_WORDBREAKS: complete the value of --opt.
    if [[ "$cur" == "=" ]]; then prev="${COMP_WORDS[COMP_CWORD - 1]}"; cur=""
    elif [[ "$prev" == "=" ]] && ((COMP_CWORD > 1)); then prev="${COMP_WORDS[COMP_CWORD - 2]}"; fi
    COMPREPLY=()
    [[ "$bin" == \~/* ]] && bin="$HOME/${bin#\~/}"
    bin="$(type -P -- "$bin")" || return 0

    # Walk the words typed so far: descend into subcommands; options of every level on the path
    # apply (the root's global options are accepted after the command too).
    local path="" table word skip=0 i kind name takes choices
    local -A takes_value=() option_choices=()
    local -a commands=() options=()
    _chroma2pg_load() {
        commands=()
        table="$(_chroma2pg_table "$bin" "$path")"
        while read -r kind name takes choices; do
            case "$kind" in
            cmd) commands+=("$name") ;;
            opt) options+=("$name"); takes_value[$name]=$takes; option_choices[$name]=$choices ;;
            esac
        done <<<"$table"
    }
    _chroma2pg_load
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${COMP_WORDS[i]}"
        if ((skip)); then skip=0; continue; fi
        if [[ "$word" == -* ]]; then
            [[ "$word" != *=* && "${takes_value[$word]:-0}" == 1 ]] && skip=1
            [[ "${COMP_WORDS[i + 1]:-}" == "=" ]] && skip=1
            continue
        fi
        [[ "$word" == "=" ]] && { skip=1; continue; }
        local c
        for c in "${commands[@]}"; do
            if [[ "$c" == "$word" ]]; then path="${path:+$path }$word"; _chroma2pg_load; break; fi
        done
    done
    unset -f _chroma2pg_load

    if [[ "$prev" == -* && "${takes_value[$prev]:-0}" == 1 ]]; then
        # The option's value: its documented choices, else nothing (readline completes file names).
        if [[ "${option_choices[$prev]}" != "-" ]]; then
            mapfile -t COMPREPLY < <(compgen -W "${option_choices[$prev]//,/ }" -- "$cur")
        fi
        return 0
    fi
    if [[ "$cur" == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "${options[*]}" -- "$cur" | LC_ALL=C sort -u)
    elif ((${#commands[@]})); then
        mapfile -t COMPREPLY < <(compgen -W "${commands[*]}" -- "$cur")
    fi
    return 0
}

complete -o default -o bashdefault -F _chroma2pg chroma2pg
