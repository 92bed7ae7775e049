#!/usr/bin/env bash
# Installs or upgrades reef from a directory holding freshly built `reef` and `reef-shim`
# binaries: backs up the state database first, keeps the binaries it replaces, swaps atomically,
# installs the config (and optionally the systemd unit) only where none exists, and checks that
# the installed binaries run. Idempotent: installing the binaries already installed changes
# nothing. See docs/operations.md.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: deploy/install.sh [OPTIONS] BIN_DIR

Install (or upgrade to) the `reef` and `reef-shim` binaries found in BIN_DIR
(e.g. target/release after `cargo build --release --workspace`).

Options:
  --prefix DIR        install into DIR/bin                         (default: /usr/local)
  --data-dir DIR      reef's data directory, backed up first       (default: /var/lib/reef)
  --config-dir DIR    where reef.toml lives                        (default: /etc/reef)
  --config FILE       config installed as CONFIG_DIR/reef.toml when none exists
                      (default: config/prod.toml of this repository)
  --backup-dir DIR    where state backups go, one directory each   (default: DATA_DIR-backups)
  --service NAME      systemd unit running reef: stopped before the backup and the swap,
                      started again afterwards (running attempts keep running: KillMode=process)
  --unit-dir DIR      also install the systemd unit as DIR/reef.service when none exists
                      (e.g. /etc/systemd/system), pointing at this prefix, config dir and
                      data dir
  -h, --help          show this help

What it does, in order:
  1. checks that BIN_DIR/reef and BIN_DIR/reef-shim run (--version); nothing else happens
     when they are the binaries already installed;
  2. stops --service NAME if given; refuses to go on while a reef host holds the database
     (DATA_DIR/reef.redb is locked by the host that has it open);
  3. copies DATA_DIR/reef.redb to BACKUP_DIR/<UTC time>/ while holding the database's lock, so
     no host can open it mid-copy: the copy is consistent. Attempt directories are not copied;
  4. keeps the installed binaries as PREFIX/bin/reef.previous and reef-shim.previous, and puts
     the new ones in place by rename (a temporary copy in the same directory, then mv);
  5. installs the config and the unit where none exists, runs `reef --version`, and starts
     --service NAME again if step 2 stopped it.

Roll back with deploy/rollback.sh.
EOF
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
script=install
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

prefix=/usr/local
data_dir=/var/lib/reef
config_dir=/etc/reef
config_src="$here/../config/prod.toml"
backup_dir=""
service=""
unit_dir=""
bin_src=""

options=(--prefix=prefix --data-dir=data_dir --config-dir=config_dir --config=config_src
    --backup-dir=backup_dir --service=service --unit-dir=unit_dir)
argument() {
    case "$1" in
        -*) bad_usage "unknown option: $1" ;;
        *)
            [[ -z "$bin_src" ]] || bad_usage "only one BIN_DIR, got '$bin_src' and '$1'"
            bin_src="$1"
            ;;
    esac
}
parse_args "$@"
[[ -n "$bin_src" ]] || bad_usage "missing BIN_DIR (the directory holding the new reef and reef-shim)"

prefix="$(absolute "$prefix")"
data_dir="$(absolute "$data_dir")"
config_dir="$(absolute "$config_dir")"
bin_src="$(absolute "$bin_src")"
backup_dir="$(absolute "${backup_dir:-$data_dir-backups}")"
[[ -z "$unit_dir" ]] || unit_dir="$(absolute "$unit_dir")"
bin="$prefix/bin"
db="$data_dir/reef.redb"
binaries=(reef-shim reef) # the shim first: the host finds it next to itself

command -v flock >/dev/null || die "flock (util-linux) is needed to check that no host holds the database"
[[ -d "$bin_src" ]] || die "BIN_DIR '$bin_src' is not a directory"
for name in "${binaries[@]}"; do
    [[ -f "$bin_src/$name" && -x "$bin_src/$name" ]] || die "'$bin_src/$name' is missing or not executable"
done
[[ "$bin_src" != "$bin" ]] || die "BIN_DIR is the install directory itself ($bin)"
[[ -f "$config_src" ]] || die "config '$config_src' does not exist (--config FILE)"
if [[ -n "$unit_dir" && ! -f "$here/reef.service" ]]; then
    die "--unit-dir given but '$here/reef.service' is missing"
fi
need_systemctl

# 1. The new binaries run.
for name in "${binaries[@]}"; do
    version="$("$bin_src/$name" --version 2>&1)" || die "'$bin_src/$name --version' failed: $version"
    say "new $name: $version"
done

up_to_date=true
for name in "${binaries[@]}"; do
    cmp -s "$bin_src/$name" "$bin/$name" || up_to_date=false
done

trap 'cleanup "with the binaries in place"' EXIT

if [[ "$up_to_date" == true ]]; then
    say "reef and reef-shim in $bin are already these binaries: nothing to swap"
else
    # 2. No host may hold the state while it is copied.
    stop_service
    need_db_free

    # 3. Back up the state. The copy is made holding the database's lock, so no host can open
    # the file while it is copied; redb's file is consistent whenever no process has it open.
    if [[ -f "$db" ]]; then
        dest="$(backup_db "$(date -u +%Y%m%dT%H%M%SZ)")"
        {
            printf 'reef state backup\n'
            printf 'made: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
            printf 'from: %s\n' "$db"
            if [[ -x "$bin/reef" ]]; then
                printf 'host version: %s\n' "$("$bin/reef" --version 2>&1 || true)"
            fi
            printf 'sha256: %s\n' "$(sha256sum "$dest/reef.redb" | cut -d' ' -f1)"
            printf 'restore: deploy/rollback.sh --restore-state %s\n' "$dest"
        } >"$dest/BACKUP"
        # The state moves on from here: a later rollback may restore an older backup again.
        rm -f "$data_dir/reef.redb.restored-from"
        say "state backed up to $dest"
    else
        say "no state at $db yet: nothing to back up"
    fi

    # 4. Keep the installed pair, then swap in the new one; each step is a rename within $bin.
    mkdir -p "$bin"
    for name in "${binaries[@]}"; do
        if [[ -f "$bin/$name" ]]; then
            keep="$bin/.$name.previous.$$"
            tmp_files+=("$keep")
            cp -p "$bin/$name" "$keep"
            mv -f "$keep" "$bin/$name.previous"
        fi
    done
    for name in "${binaries[@]}"; do
        new="$bin/.$name.new.$$"
        tmp_files+=("$new")
        cp "$bin_src/$name" "$new"
        chmod 0755 "$new"
        "$new" --version >/dev/null 2>&1 || die "the copy $new does not run; the installed binaries are unchanged"
    done
    for name in "${binaries[@]}"; do
        mv -f "$bin/.$name.new.$$" "$bin/$name"
    done
    if [[ -f "$bin/reef.previous" ]]; then
        say "installed into $bin; the previous binaries are kept as reef.previous and reef-shim.previous"
    else
        say "installed into $bin (first install: no previous binaries)"
    fi
fi

# 5. Config and unit, only where none exists (an existing one is the operator's).
if [[ -f "$config_dir/reef.toml" ]]; then
    say "kept the existing $config_dir/reef.toml"
else
    install -d -m 0755 "$config_dir"
    install -m 0644 "$config_src" "$config_dir/reef.toml"
    say "installed $config_dir/reef.toml from $config_src"
fi
if [[ -f "$here/reef.env.example" && ! -f "$config_dir/reef.env.example" ]]; then
    install -m 0644 "$here/reef.env.example" "$config_dir/reef.env.example"
fi
if [[ -n "$unit_dir" ]]; then
    if [[ -f "$unit_dir/reef.service" ]]; then
        say "kept the existing $unit_dir/reef.service"
    else
        install -d -m 0755 "$unit_dir"
        render=(-e "s#/usr/local/bin/#$bin/#g" -e "s#/etc/reef/#$config_dir/#g")
        if [[ "$data_dir" != /var/lib/reef ]]; then
            render+=(-e "s#^ExecStart=\(.*\)\$#ExecStart=\1 --data-dir $data_dir#"
                -e "s#^WorkingDirectory=.*#WorkingDirectory=$data_dir#")
        fi
        sed "${render[@]}" "$here/reef.service" >"$unit_dir/reef.service"
        chmod 0644 "$unit_dir/reef.service"
        say "installed $unit_dir/reef.service (run: systemctl daemon-reload)"
    fi
fi

for name in "${binaries[@]}"; do
    version="$("$bin/$name" --version 2>&1)" || die "installed $bin/$name does not run: $version"
    say "$bin/$name: $version"
done

start_service "starting $service (it re-attaches to the attempts that kept running)"
