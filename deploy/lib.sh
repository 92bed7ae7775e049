# shellcheck shell=bash
# shellcheck disable=SC2154 # script, service and options are set by the script sourcing this
# What deploy/install.sh and deploy/rollback.sh share: messages, the command line, paths, and
# stopping and starting the service. Sourced, not run: the script sets `script` to its name
# (install, rollback) first, and defines `usage` (its --help) and `argument` (what it does with
# an argument that is not an option).

say() { printf '%s: %s\n' "$script" "$*"; }
die() {
    printf '%s: error: %s\n' "$script" "$*" >&2
    exit 1
}
bad_usage() {
    printf '%s: %s\n(see deploy/%s.sh --help)\n' "$script" "$*" "$script" >&2
    exit 2
}

need_value() { [[ $# -ge 2 && -n "$2" ]] || bad_usage "$1 needs a value"; }

# Parses the command line. `options` lists the script's options as OPTION=VARIABLE: each takes
# a value (`--opt value` or `--opt=value`) that goes into its variable. -h and --help print the
# usage; any other argument goes to `argument`.
parse_args() {
    local option variable
    while [[ $# -gt 0 ]]; do
        case "$1" in
            -h | --help)
                usage
                exit 0
                ;;
            --*=*) set -- "${1%%=*}" "${1#*=}" "${@:2}" ;;
            *)
                variable=""
                for option in "${options[@]}"; do
                    [[ "$1" != "${option%%=*}" ]] || variable="${option#*=}"
                done
                if [[ -n "$variable" ]]; then
                    need_value "$@"
                    printf -v "$variable" '%s' "$2"
                    shift 2
                else
                    argument "$1"
                    shift
                fi
                ;;
        esac
    done
}

# Absolute paths, without trailing slashes.
absolute() { case "$1" in /*) printf '%s' "${1%/}" ;; *) printf '%s/%s' "$PWD" "${1%/}" ;; esac; }

# --service NAME: the unit is stopped with stop_service and started again with start_service;
# should the script fail in between, cleanup (its EXIT trap) starts it again.
need_systemctl() {
    if [[ -n "$service" ]] && ! command -v systemctl >/dev/null; then
        die "--service $service given but systemctl is not available"
    fi
}

stopped_service=false
tmp_files=()

# On exit: removes the temporary files and, after a failure, starts the service again if this
# run stopped it; $1, if given, ends the line saying so.
cleanup() {
    local status=$?
    for f in "${tmp_files[@]}"; do rm -f "$f"; done
    if [[ $status -ne 0 && "$stopped_service" == true ]]; then
        printf '%s: failed; starting %s again%s\n' "$script" "$service" "${1:+ $1}" >&2
        systemctl start "$service" || printf '%s: error: could not start %s\n' "$script" "$service" >&2
    fi
}

stop_service() {
    if [[ -n "$service" ]] && systemctl is-active --quiet "$service"; then
        say "stopping $service (KillMode=process: running attempts keep running under their shims)"
        systemctl stop "$service"
        stopped_service=true
    fi
}

# Starts the service again if this run stopped it, saying $1 (what happens) first.
start_service() {
    if [[ "$stopped_service" == true ]]; then
        say "$1"
        systemctl start "$service"
        stopped_service=false
    fi
}

# True when a process holds the database $db open (redb takes an exclusive flock on it).
db_in_use() { [[ -f "$db" ]] && ! flock --nonblock --exclusive "$db" true; }

# Refuses to go on while a host holds the database.
need_db_free() {
    if db_in_use; then
        die "a reef host is running on $data_dir (it holds $db): stop it first, or pass --service NAME"
    fi
}

# Copies $db into a new directory under $backup_dir named $1 (made unique with -2, -3, ...),
# holding the database's lock, so no host can open the file while it is copied (redb's file is
# consistent whenever no process has it open). Prints the directory.
backup_db() {
    local dest="$backup_dir/$1" n=1
    while [[ -e "$dest" ]]; do
        n=$((n + 1))
        dest="$backup_dir/$1-$n"
    done
    mkdir -p "$backup_dir"
    chmod 0700 "$backup_dir"
    mkdir -m 0700 "$dest"
    flock --nonblock --exclusive "$db" cp -p "$db" "$dest/reef.redb" \
        || die "could not copy $db (did a host just start?); nothing was changed"
    printf '%s' "$dest"
}

# Shims still supervising attempts under $data_dir: the pids, one per line.
live_shims() {
    local proc
    for proc in /proc/[0-9]*; do
        tr '\0' ' ' <"$proc/cmdline" 2>/dev/null | grep -q "reef-shim .*--spec $data_dir/attempts/" \
            && printf '%s\n' "${proc#/proc/}"
    done
    return 0
}

# A signal ends the script through its EXIT trap with a failing status, so that cleanup starts
# again a service this run stopped (bash would otherwise exit with status 0 in the trap).
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
