#!/usr/bin/env bash
# Rolls reef back to the binaries deploy/install.sh kept (PREFIX/bin/reef.previous and
# reef-shim.previous) and, on request, restores a state backup it made. What it replaces is kept
# (reef.rolled-back, reef-shim.rolled-back; the replaced database as a backup of its own).
# Idempotent: once the previous binaries are in place, running it again changes nothing.
# See docs/operations.md.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: deploy/rollback.sh [OPTIONS]

Put back the reef and reef-shim that deploy/install.sh replaced last, and optionally the state
database from one of its backups.

Options:
  --prefix DIR             binaries are in DIR/bin                   (default: /usr/local)
  --data-dir DIR           reef's data directory                     (default: /var/lib/reef)
  --backup-dir DIR         where the replaced database is kept       (default: DATA_DIR-backups)
  --restore-state BACKUP   also restore DATA_DIR/reef.redb from BACKUP: a backup directory made
                           by install.sh (holding reef.redb) or a reef.redb file
  --service NAME           systemd unit running reef: stopped first, started again at the end
  -h, --help               show this help

The binaries replaced are kept as PREFIX/bin/reef.rolled-back and reef-shim.rolled-back (to go
forward again, run install.sh with the newer binaries). A database replaced by --restore-state is
first copied to BACKUP_DIR/<UTC time>-before-restore/. Restoring needs the host stopped: with
--service it is stopped; without, the script refuses while a host holds the database.
Jobs created after the backup are not in the restored database; their attempt directories stay
on disk unused. A restore is recorded in DATA_DIR/reef.redb.restored-from, so that the same
command run again does not restore the backup a second time over what the host did since.
EOF
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
script=rollback
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

prefix=/usr/local
data_dir=/var/lib/reef
backup_dir=""
restore=""
service=""

options=(--prefix=prefix --data-dir=data_dir --backup-dir=backup_dir --restore-state=restore
    --service=service)
argument() { bad_usage "unknown argument: $1"; }
parse_args "$@"

prefix="$(absolute "$prefix")"
data_dir="$(absolute "$data_dir")"
backup_dir="$(absolute "${backup_dir:-$data_dir-backups}")"
bin="$prefix/bin"
db="$data_dir/reef.redb"
binaries=(reef-shim reef)

command -v flock >/dev/null || die "flock (util-linux) is needed to check that no host holds the database"
for name in "${binaries[@]}"; do
    [[ -f "$bin/$name.previous" ]] || die "no previous binary $bin/$name.previous to roll back to (install.sh keeps one when it replaces an install)"
done
restore_db=""
if [[ -n "$restore" ]]; then
    restore="$(absolute "$restore")"
    if [[ -d "$restore" ]]; then
        restore_db="$restore/reef.redb"
    else
        restore_db="$restore"
    fi
    [[ -f "$restore_db" ]] || die "no state backup at '$restore_db' (--restore-state takes a backup directory or a reef.redb file)"
    [[ "$restore_db" != "$db" ]] || die "--restore-state names the live database itself"
    [[ -d "$data_dir" ]] || die "data dir '$data_dir' does not exist"
fi
need_systemctl

# The previous binaries must run before anything is touched.
for name in "${binaries[@]}"; do
    version="$("$bin/$name.previous" --version 2>&1)" || die "'$bin/$name.previous --version' failed: $version"
    say "previous $name: $version"
done

binaries_back=true
for name in "${binaries[@]}"; do
    cmp -s "$bin/$name.previous" "$bin/$name" || binaries_back=false
done
# A restore is recorded beside the database (sha256 of the backup restored), so that running the
# same rollback again does not restore the backup a second time over what the host has done since.
# install.sh removes the record when it backs up the state before an upgrade.
marker="$data_dir/reef.redb.restored-from"
state_back=true
if [[ -n "$restore_db" ]]; then
    restore_sha="$(sha256sum "$restore_db" | cut -d' ' -f1)"
    if cmp -s "$restore_db" "$db"; then
        :
    elif [[ -f "$marker" && "$(sed -n 2p "$marker")" == "$restore_sha" ]]; then
        say "$db was already restored from this backup (recorded in $marker); delete that file to restore it again"
    else
        state_back=false
    fi
fi
if [[ "$binaries_back" == true && "$state_back" == true ]]; then
    say "already rolled back: $bin holds the previous binaries${restore_db:+ and the state is that backup}; nothing to do"
    exit 0
fi

trap cleanup EXIT

stop_service

if [[ "$state_back" == false ]]; then
    need_db_free
    # Attempts still running belong to the state being replaced: the restored one does not know
    # them, and would start attempts of the same numbers beside them.
    shims="$(live_shims)"
    if [[ -n "$shims" ]]; then
        die "$(wc -l <<<"$shims") attempts of the current state still run (reef-shim pids: $(tr '\n' ' ' <<<"$shims")); let them finish, or stop them, before restoring a backup"
    fi
    # Keep the database being replaced, copied under its lock like install.sh's backups.
    if [[ -f "$db" ]]; then
        dest="$(backup_db "$(date -u +%Y%m%dT%H%M%SZ)-before-restore")"
        printf 'reef state replaced by a restore of %s\nmade: %s\n' "$restore_db" \
            "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$dest/BACKUP"
        say "kept the current state as $dest"
    fi
    # Restore by rename, so the database is either the old file or the whole backup.
    new="$data_dir/.reef.redb.restore.$$"
    tmp_files+=("$new")
    cp -p "$restore_db" "$new"
    if [[ -f "$db" ]]; then
        chown --reference="$db" "$new" 2>/dev/null || true
        chmod --reference="$db" "$new"
    fi
    if [[ -f "$db" ]]; then
        # Renamed over the old file while holding its lock: no host can have opened it meanwhile.
        flock --nonblock --exclusive "$db" mv -f "$new" "$db" \
            || die "could not replace $db (did a host just start?)"
    else
        mv -f "$new" "$db"
    fi
    printf '%s\n%s\n' "$restore_db" "$restore_sha" >"$marker"
    say "restored $db from $restore_db"
fi

if [[ "$binaries_back" == false ]]; then
    for name in "${binaries[@]}"; do
        keep="$bin/.$name.rolled-back.$$"
        new="$bin/.$name.new.$$"
        tmp_files+=("$keep" "$new")
        if [[ -f "$bin/$name" ]]; then
            cp -p "$bin/$name" "$keep"
        fi
        cp -p "$bin/$name.previous" "$new"
        chmod 0755 "$new"
    done
    for name in "${binaries[@]}"; do
        if [[ -f "$bin/.$name.rolled-back.$$" ]]; then
            mv -f "$bin/.$name.rolled-back.$$" "$bin/$name.rolled-back"
        fi
        mv -f "$bin/.$name.new.$$" "$bin/$name"
    done
    say "put back the previous binaries; the replaced ones are kept as reef.rolled-back and reef-shim.rolled-back"
    if [[ "$stopped_service" == false ]] && db_in_use; then
        say "warning: a reef host is running on $data_dir; it keeps running the replaced binary until it is restarted"
    fi
fi

for name in "${binaries[@]}"; do
    version="$("$bin/$name" --version 2>&1)" || die "$bin/$name does not run: $version"
    say "$bin/$name: $version"
done

start_service "starting $service"
