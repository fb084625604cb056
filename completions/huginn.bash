# bash completion for huginn: subcommands, options, and the values of
# criteria, cache strategies, themes, weight formats and KV types.
_huginn()
{
    local cur prev cmd i
    COMPREPLY=()
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    local cmds="chat run forward tokenize detokenize bench demo mkmodel serve"
    local criteria="kl argmax-stability entropy-diff latent-diff minp-kl cosine none off"
    local caches="full latest-m4 compress-s16 compress-r4 latest-m4-compress-s16"
    local weights="auto f32 bf16 q8_0"
    local kvtypes="f32 bf16 f16"
    local shapes="huginn-0125 tiny demo"
    cmd=
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in -*) ;; *) cmd=${COMP_WORDS[i]}; break ;; esac
    done
    case $prev in
        --criterion) COMPREPLY=($(compgen -W "$criteria" -- "$cur")); return ;;
        --cache) COMPREPLY=($(compgen -W "$caches" -- "$cur")); return ;;
        --weights) COMPREPLY=($(compgen -W "$weights" -- "$cur")); return ;;
        --kv-dtype) COMPREPLY=($(compgen -W "$kvtypes" -- "$cur")); return ;;
        --dtype) COMPREPLY=($(compgen -W "f32 bf16" -- "$cur")); return ;;
        --shape) COMPREPLY=($(compgen -W "$shapes" -- "$cur")); return ;;
        --threshold) COMPREPLY=($(compgen -W "auto" -- "$cur")); return ;;
        --server) COMPREPLY=($(compgen -W "http://127.0.0.1:8080 http://localhost:8000/v1" -- "$cur")); return ;;
        --api-key-file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --remote-model) return ;;
        --theme)
            local themes="default light mono" d
            for d in "$HUGINN_THEMES" "$(dirname "$(command -v huginn 2>/dev/null || echo .)")/../share/huginn/themes"; do
                [ -d "$d" ] && themes="$themes $(cd "$d" && ls *.json 2>/dev/null | sed 's/\.json$//')"
            done
            COMPREPLY=($(compgen -W "$themes" -- "$cur")); return ;;
        --host) COMPREPLY=($(compgen -W "127.0.0.1 0.0.0.0 ::1 localhost" -- "$cur")); return ;;
        --api-key-file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --model|--out|--tokenizer|--text) COMPREPLY=($(compgen -d -- "$cur")); [ "$prev" = --model ] || COMPREPLY+=($(compgen -f -- "$cur")); return ;;
    esac
    if [ -z "$cmd" ]; then
        COMPREPLY=($(compgen -W "$cmds --help --version" -- "$cur"))
        return
    fi
    local opts
    case $cmd in
        chat|demo) opts="--model --server --api-key-file --remote-model --theme --plain --resume --steps --criterion --threshold --cache --warmstart --greedy --temperature --seed --max-new-tokens --ctx --weights --kv-dtype --keys-man" ;;
        run) opts="--model --prompt-ids --prompt --chat --system --bos --steps --init-scale --criterion --threshold --min-steps --check-every --warmstart --cache --greedy --temperature --top-k --top-p --min-p --repetition-penalty --seed --max-new-tokens --weights --kv-dtype --ctx --threads --json" ;;
        forward) opts="--model --prompt-ids --steps --init-scale --seed --weights --kv-dtype --threads --json" ;;
        tokenize) opts="--model --tokenizer --special --json" ;;
        detokenize) opts="--model --tokenizer --skip-special --json" ;;
        bench) opts="tokenizer --model --shape --weights --steps --prompt-tokens --decode-tokens --threads --cache --kv-dtype --json --tokenizer --text" ;;
        mkmodel) opts="--shape --out --dtype --seed --shard-gb" ;;
        serve) opts="--model --host --port --slots --queue --api-key-file --threads --weights --ctx --max-steps --max-body --model-name" ;;
    esac
    COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
}
complete -F _huginn huginn
