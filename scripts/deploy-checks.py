#!/usr/bin/env python3
"""Static checks of the deployment kit in deploy/, run by scripts/test-deploy.

    deploy-checks.py compose        deploy/compose.yaml, the files it mounts, the Prometheus and
                                    Grafana provisioning it wires up, the Dockerfile's COPY sources
    deploy-checks.py env REEF_BIN   deploy/reef.env.example against what REEF_BIN (a built `reef`)
                                    and host/*/src read

Each check prints what is wrong, one line per problem, and exits 1 if anything is.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"

problems: list[str] = []


def problem(text: str) -> None:
    if text not in problems:
        problems.append(text)


def finish(what: str) -> None:
    if problems:
        print(f"{what}: {len(problems)} problem(s):")
        for p in problems:
            print(f"  - {p}")
        sys.exit(1)
    print(f"{what}: ok")


# --- compose -------------------------------------------------------------------------------------

# Keys of the Compose specification's service definition (a typo is an error, as in
# `docker compose config`).
SERVICE_KEYS = {
    "annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup",
    "cgroup_parent", "command", "configs", "container_name", "cpu_count", "cpu_percent",
    "cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpus",
    "cpuset", "credential_spec", "depends_on", "deploy", "develop", "device_cgroup_rules",
    "devices", "dns", "dns_opt", "dns_search", "domainname", "driver_opts", "entrypoint",
    "env_file", "environment", "expose", "extends", "external_links", "extra_hosts",
    "gpus", "group_add", "healthcheck", "hostname", "image", "init", "ipc", "isolation", "labels",
    "label_file", "links", "logging", "mac_address", "mem_limit", "mem_reservation",
    "mem_swappiness", "memswap_limit", "network_mode", "networks", "oom_kill_disable",
    "oom_score_adj", "pid", "pids_limit", "platform", "ports", "post_start", "pre_stop",
    "privileged", "profiles", "pull_policy", "read_only", "restart", "runtime", "scale",
    "secrets", "security_opt", "shm_size", "stdin_open", "stop_grace_period", "stop_signal",
    "storage_opt", "sysctls", "tmpfs", "tty", "ulimits", "user", "userns_mode", "uts",
    "volumes", "volumes_from", "working_dir",
}
TOP_KEYS = {"name", "services", "volumes", "networks", "configs", "secrets", "include", "version"}
COLLECTOR_PORT = "4318"


def load_yaml(path: Path):
    import yaml  # PyYAML; scripts/setup.sh installs it when missing

    with open(path) as f:
        return yaml.safe_load(f)


def mounts(service: dict, base: Path):
    """(source path or volume name, container target, is_bind) of a service's volumes."""
    out = []
    for v in service.get("volumes", []) or []:
        if isinstance(v, str):
            parts = v.split(":")
            if len(parts) < 2:
                out.append((None, parts[0], False))  # anonymous volume
                continue
            src, target = parts[0], parts[1]
            is_bind = src.startswith((".", "/", "~"))
        else:
            src, target = v.get("source"), v.get("target")
            is_bind = v.get("type") == "bind"
        out.append(((base / src).resolve() if is_bind else src, target, is_bind))
    return out


def check_compose() -> None:
    compose_path = DEPLOY / "compose.yaml"
    doc = load_yaml(compose_path)
    if not isinstance(doc, dict):
        problem("compose.yaml is not a mapping")
        return
    for key in doc:
        if key not in TOP_KEYS and not str(key).startswith("x-"):
            problem(f"compose.yaml: unknown top-level key '{key}'")
    services = doc.get("services") or {}
    declared_volumes = set((doc.get("volumes") or {}).keys())
    for name in ("reef", "prometheus", "grafana"):
        if name not in services:
            problem(f"compose.yaml: no service '{name}'")

    for name, svc in services.items():
        if not isinstance(svc, dict):
            problem(f"services.{name} is not a mapping")
            continue
        for key in svc:
            if key not in SERVICE_KEYS and not str(key).startswith("x-"):
                problem(f"services.{name}: unknown key '{key}'")
        if "image" not in svc and "build" not in svc:
            problem(f"services.{name}: neither image nor build")
        build = svc.get("build")
        if build is not None:
            context = DEPLOY / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            if not context.is_dir():
                problem(f"services.{name}.build.context {context} does not exist")
            elif not (context / dockerfile).is_file():
                problem(f"services.{name}.build.dockerfile {context / dockerfile} does not exist")
        deps = svc.get("depends_on") or []
        for dep in deps if isinstance(deps, list) else deps.keys():
            if dep not in services:
                problem(f"services.{name}.depends_on names unknown service '{dep}'")
        for src, target, is_bind in mounts(svc, DEPLOY):
            if not str(target).startswith("/"):
                problem(f"services.{name}.volumes: target '{target}' is not absolute")
            if is_bind and not Path(src).exists():
                problem(f"services.{name}.volumes: mounted file {src} does not exist")
            if not is_bind and src is not None and src not in declared_volumes:
                problem(f"services.{name}.volumes: named volume '{src}' is not declared")
        env_files = svc.get("env_file") or []
        for entry in [env_files] if isinstance(env_files, str) else env_files:
            path = entry if isinstance(entry, str) else entry.get("path")
            required = True if isinstance(entry, str) else entry.get("required", True)
            if required and not (DEPLOY / path).exists():
                problem(f"services.{name}.env_file: {path} is required but does not exist")

    # The collector: a service that takes OTLP/HTTP on 4318, and reef exports to it.
    collectors = [
        n for n, s in services.items()
        if any(COLLECTOR_PORT == str(p).split(":")[-1].split("/")[0]
               for p in (s.get("expose") or []) + (s.get("ports") or []))
    ]
    if not collectors:
        problem(f"compose.yaml: no OTLP collector service (exposing {COLLECTOR_PORT})")
    reef = services.get("reef") or {}
    env = reef.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    endpoint = str(env.get("REEF_TELEMETRY__OTLP_ENDPOINT", ""))
    m = re.fullmatch(r"http://([A-Za-z0-9_.-]+):(\d+)/?", endpoint)
    if not m:
        problem(f"services.reef: REEF_TELEMETRY__OTLP_ENDPOINT '{endpoint}' is not http://SERVICE:PORT")
    elif m.group(1) not in collectors or m.group(2) != COLLECTOR_PORT:
        problem(f"services.reef: REEF_TELEMETRY__OTLP_ENDPOINT '{endpoint}' is not a collector of this file")
    for var in ("REEF_OPERATOR_TOKEN", "REEF_CI_TOKEN", "REEF_DASHBOARD_TOKEN"):
        if var not in env:
            problem(f"services.reef: {var} (a token of config/prod.toml) is not passed")

    check_prometheus(services)
    check_grafana(services)
    check_dockerfile()


def targets(svc: dict) -> dict:
    """Container target -> host source of a service's bind mounts."""
    return {t: Path(s) for s, t, is_bind in mounts(svc, DEPLOY) if is_bind}


def check_prometheus(services: dict) -> None:
    svc = services.get("prometheus")
    if not svc:
        return
    mounted = targets(svc)
    args = svc.get("command") or []
    config_target = next(
        (a.split("=", 1)[1] for a in args if str(a).startswith("--config.file=")),
        "/etc/prometheus/prometheus.yml",
    )
    source = mounted.get(config_target)
    if source is None:
        problem(f"services.prometheus: its config {config_target} is not mounted")
        return
    config = load_yaml(source)
    for rule in config.get("rule_files") or []:
        target = rule if rule.startswith("/") else str(Path(config_target).parent / rule)
        if target not in mounted:
            problem(f"{source.name}: rule file {rule} is not mounted at {target}")
    jobs = {j.get("job_name"): j for j in config.get("scrape_configs") or []}
    if "reef" not in jobs:
        problem(f"{source.name}: no scrape job 'reef' (the alert rules select job=\"reef\")")
    else:
        for sc in jobs["reef"].get("static_configs") or []:
            for t in sc.get("targets") or []:
                host = t.split(":")[0]
                if host not in services:
                    problem(f"{source.name}: scrape target {t} is not a service of compose.yaml")
                if t.split(":")[-1] != "7878":
                    problem(f"{source.name}: scrape target {t} is not reef's port 7878")


def check_grafana(services: dict) -> None:
    svc = services.get("grafana")
    if not svc:
        return
    mounted = targets(svc)
    provisioning = {t: s for t, s in mounted.items() if t.startswith("/etc/grafana/provisioning/")}
    for kind in ("datasources", "dashboards"):
        if f"/etc/grafana/provisioning/{kind}" not in provisioning:
            problem(f"services.grafana: /etc/grafana/provisioning/{kind} is not mounted")
    for target, source in provisioning.items():
        files = sorted(source.glob("*.y*ml")) if source.is_dir() else [source]
        if not files:
            problem(f"{source}: no provisioning file")
        for f in files:
            doc = load_yaml(f) or {}
            if doc.get("apiVersion") != 1:
                problem(f"{f.relative_to(ROOT)}: apiVersion is not 1")
            for ds in doc.get("datasources") or []:
                host = re.sub(r"^https?://", "", ds.get("url", "")).split(":")[0].split("/")[0]
                if host not in services:
                    problem(f"{f.relative_to(ROOT)}: datasource {ds.get('name')} points at '{host}', not a service")
            for provider in doc.get("providers") or []:
                path = (provider.get("options") or {}).get("path", "")
                dashboards = [t for t in mounted if t.startswith(path.rstrip("/") + "/")]
                if not dashboards:
                    problem(f"{f.relative_to(ROOT)}: provider path {path} has no dashboard mounted")
                for t in dashboards:
                    try:
                        json.loads(mounted[t].read_text())
                    except (OSError, ValueError) as e:
                        problem(f"{mounted[t]}: not a readable dashboard JSON: {e}")
    env = svc.get("environment") or {}
    home = env.get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH") if isinstance(env, dict) else None
    if home and home not in mounted:
        problem(f"services.grafana: home dashboard {home} is not mounted")
    # The dashboard's datasource variable resolves to the default datasource: there must be one.
    ds_files = provisioning.get("/etc/grafana/provisioning/datasources")
    if ds_files and ds_files.is_dir():
        defaults = [
            ds for f in ds_files.glob("*.y*ml")
            for ds in (load_yaml(f) or {}).get("datasources") or [] if ds.get("isDefault")
        ]
        if not any(ds.get("type") == "prometheus" for ds in defaults):
            problem("grafana provisioning: no default Prometheus datasource for the dashboard")


def check_dockerfile() -> None:
    """Every COPY source of deploy/Dockerfile exists in the build context and is not excluded."""
    dockerfile = DEPLOY / "Dockerfile"
    ignore = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for line in dockerfile.read_text().splitlines():
        m = re.match(r"^\s*COPY\s+(.*)$", line)
        if not m or "--from=" in line:
            continue
        parts = [p for p in m.group(1).split() if not p.startswith("--")]
        for src in parts[:-1]:
            if not (ROOT / src).exists():
                problem(f"deploy/Dockerfile: COPY source {src} does not exist in the build context")
            for pattern in ignore:
                bare = pattern.removeprefix("**/")
                if src == pattern or src.startswith(pattern + "/") or Path(src).match(bare):
                    problem(f"deploy/Dockerfile: COPY source {src} is excluded by .dockerignore ({pattern})")


# --- env example ---------------------------------------------------------------------------------

VAR_LINE = re.compile(r"^#?\s*(REEF_[A-Z0-9_<>]+)=(.*)$")
# Set by reef in each runner's environment, never read from the host's: the example mentions them
# without a line of their own.
SET_FOR_RUNNERS = {"REEF_JOB_ID", "REEF_ATTEMPT", "REEF_RUNNER", "REEF_RESULT_PATH"}
PLACEHOLDER_VALUES = {"<NAME>": "demo", "<PARAM>": "agent", "<POOL>": "surfpool", "<VAR>": "foo"}
PATTERN_CONFIG = """
[runners.demo]
command = ["x"]
[runners.demo.params.agent]
[resources]
surfpool = 1
[executors.demo]
kind = "slurm"
shared_dir = "/shared/reef"
"""


def env_name(path: list[str]) -> str:
    return "REEF_" + "__".join(p.upper() for p in path)


def clean_env() -> dict:
    """The environment without any REEF_* variable, so that reef shows its defaults."""
    return {k: v for k, v in os.environ.items() if not k.startswith("REEF_")} | {"RUST_BACKTRACE": "0"}


def reef(binary: str, args: list[str], extra: dict | None = None, cwd: str | None = None):
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, env=clean_env() | (extra or {}), cwd=cwd
    )


def leaf_keys(table: dict, prefix: list[str]) -> list[list[str]]:
    out = []
    for key, value in table.items():
        if isinstance(value, dict):
            out += leaf_keys(value, prefix + [key])
        else:
            out.append(prefix + [key])
    return out


def reference_keys(markdown: str):
    """(section path, key or None) of `reef config reference`: None for a section without a
    key table (a map such as [resources]). Array-of-table sections are skipped: their entries
    cannot be set one key at a time from the environment."""
    out = []
    section, has_rows = None, False
    for line in markdown.splitlines() + ["## end"]:
        heading = re.match(r"^#{2,3} `(\[\[?)([A-Za-z0-9_.]+)\]\]?`", line)
        if heading or line.startswith("## end"):
            if section is not None and not has_rows:
                out.append((section, None))
            section, has_rows = None, False
            if heading and heading.group(1) == "[":
                section = heading.group(2).split(".")
            continue
        row = re.match(r"^\| `([a-z0-9_]+)` \|", line)
        if section is not None and row:
            has_rows = True
            out.append((section, row.group(1)))
    return out


def pattern_name(section: list[str], key: str | None) -> str:
    """REEF_ name with <PLACEHOLDERS> for NAME-like (upper-case) parts of a reference section."""
    parts = [f"<{p}>" if p.isupper() else p.upper() for p in section]
    if key is None:
        return "REEF_" + "__".join(parts) + "__<"
    return "REEF_" + "__".join(parts + [key.upper()])


def check_env(binary: str) -> None:
    example = DEPLOY / "reef.env.example"
    text = example.read_text()
    listed: dict[str, str] = {}
    for line in text.splitlines():
        m = VAR_LINE.match(line)
        if m:
            value = m.group(2)
            if len(value) >= 2 and value[0] == value[-1] == "'":
                value = value[1:-1]
            listed[m.group(1)] = value

    def has(name: str) -> bool:
        return any(v == name or v.startswith(name + "__") or (name.endswith("<") and v.startswith(name))
                   for v in listed)

    with tempfile.TemporaryDirectory() as empty:
        shown = reef(binary, ["config", "show"], cwd=empty)
        if shown.returncode != 0:
            problem(f"`reef config show` (defaults) failed: {shown.stderr.strip()}")
            return
        defaults = tomllib.loads(shown.stdout)
        reference = reef(binary, ["config", "reference"], cwd=empty)
        if reference.returncode != 0:
            problem(f"`reef config reference` failed: {reference.stderr.strip()}")
            return
        ref = reference_keys(reference.stdout)

        # Every leaf key reef prints, and every key its reference documents, has its line.
        for path in leaf_keys(defaults, []):
            if not has(env_name(path)):
                problem(f"missing {env_name(path)} (key {'.'.join(path)} of `reef config show`)")
        for section, key in ref:
            name = pattern_name(section, key)
            if not has(name) and not any(p.startswith(f"missing {name} ") for p in problems):
                shown_name = name.rstrip("<") + "<...>" if key is None else name
                problem(f"missing {shown_name} (`reef config reference`: [{'.'.join(section)}] {key or '(map)'})")

        # Every config variable of the example is a key reef knows, its example value loads, and
        # its section is really read from the environment.
        known = {pattern_name(s, k) for s, k in ref if k} | {env_name(p) for p in leaf_keys(defaults, [])}
        known_maps = {pattern_name(s, None) for s, k in ref if k is None}
        sections_checked: set[str] = set()
        pattern_file = Path(empty) / "pattern.toml"
        pattern_file.write_text(PATTERN_CONFIG)
        for name, value in listed.items():
            if "__" not in name:
                continue
            is_known = name in known or any(name.startswith(m) for m in known_maps) or any(
                # a table-valued key (runners.NAME.env) takes sub-keys
                name.startswith(k + "__") for k in known
            )
            if not is_known:
                problem(f"{name} is listed but is not a key this reef knows "
                        "(in neither `reef config show` nor `reef config reference`)")
                continue
            concrete = name
            for placeholder, sample in PLACEHOLDER_VALUES.items():
                concrete = concrete.replace(placeholder, sample.upper())
            args = ["config", "show"] + (["--config", str(pattern_file)] if concrete != name else [])
            loaded = reef(binary, args, {concrete: value}, cwd=empty)
            if loaded.returncode != 0:
                problem(f"{name}={value}: reef does not accept the example value: "
                        f"{loaded.stderr.strip().splitlines()[0] if loaded.stderr.strip() else loaded.returncode}")
            section = name.split("__")[0]
            if section not in sections_checked:
                sections_checked.add(section)
                probe = reef(binary, ["config", "show"], {f"{section}__NO_SUCH_KEY_CHECK": "{no_such_key_check=1}"}, cwd=empty)
                if probe.returncode == 0:
                    problem(f"{section}__* variables are not read by reef (a bogus key there is not refused)")

    # Process-level variables reef's source reads, and the token secrets of config/prod.toml.
    source_vars = set()
    for path in (ROOT / "host").glob("*/src/**/*.rs"):
        source_vars |= set(re.findall(r'"(REEF_[A-Z0-9_]+)"', path.read_text()))
    for var in sorted(source_vars):
        if var in SET_FOR_RUNNERS:
            if not re.search(rf"\b{var}\b", text):
                problem(f"{var} (set by reef for runners) is not mentioned")
        elif var not in listed:
            problem(f"missing {var} (named in host/*/src)")
    prod = tomllib.loads((ROOT / "config" / "prod.toml").read_text())
    for token in prod.get("auth", {}).get("tokens", []):
        var = token.get("token_env")
        if var and not re.search(rf"^{var}=", text, re.M):
            problem(f"missing {var}= (token_env of config/prod.toml), uncommented")


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "compose":
        check_compose()
        finish("compose.yaml")
    elif len(sys.argv) == 3 and sys.argv[1] == "env":
        check_env(sys.argv[2])
        finish("reef.env.example")
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
