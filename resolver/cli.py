"""``fallback-resolver`` / ``python -m resolver``: argparse subcommands in front of ``load``.

Not ``@hydra.main``: that takes over argv, writes output folders and logs, and composes with
Hydra's global state, where the library composes on its own. The flags for per-model changes
become Hydra dict-literal overrides, the only form that addresses ids with dots in them.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
from collections.abc import Sequence

from ._version import __version__
from .commands import (
    Assumptions,
    Context,
    Out,
    UsageError,
    cmd_compile,
    cmd_diff,
    cmd_explain,
    cmd_export,
    cmd_graph,
    cmd_health,
    cmd_import,
    cmd_lookup,
    cmd_serve,
    cmd_show,
    cmd_table,
    cmd_validate,
)
from .errors import ConfigError, ResolverError, did_you_mean

PROG = "fallback-resolver"
# Options that take a value: routing must skip their values when it looks for the subcommand.
_VALUED = {
    "--env",
    "--config-dir",
    "--config-path",
    "--fallback",
    "--disable",
    "--enable",
    "--format",
    "-f",
    "--output",
    "-o",
    "--reset",
    "--snapshot",
    "--from",
    "--name",
    "--host",
    "--port",
    "--grace-s",
    "--max-body-bytes",
    "--max-messages",
    "--max-depth",
    "--header-timeout-s",
    "--body-timeout-s",
    "--keep-alive-s",
    "--max-connections",
    "--workers",
    "--assume-down",
    "--assume-unset",
    "--assume-spent",
}
_JSON_COMMANDS = {"table", "lookup", "explain", "validate", "diff", "health"}
_COMMANDS: dict[str, tuple[str, str]] = {
    "table": (
        "each enabled model with backups, its chain, and whether each hop is usable now, then "
        "a count of the models without backups (the default command; --all lists them too)",
        f"  {PROG} --env staging\n"
        f"  {PROG} table --all    # every enabled model, with or without backups\n"
        f"  {PROG} table --disable kimi-k2-instruct --json\n"
        f"  {PROG} --fallback 'kimi-k2.5-syn=kimi-k2-instruct,deepseek-v3.1' policy.max_depth=1",
    ),
    "lookup": (
        "print the backup a failing call of MODEL goes to now (exit 1 when there is none)",
        f"  TOGETHER_API_KEY=... {PROG} lookup deepseek-r1-0528-syn\n"
        f"  {PROG} lookup kimi-k2.5-syn --env staging\n"
        f"  {PROG} lookup qwen2.5-7b-turbo --fallback qwen2.5-7b-turbo=deepseek-v3.1-terminus-syn",
    ),
    "explain": (
        "hop by hop, why each backup of MODEL is used or skipped, and where each edge is declared",
        f"  {PROG} explain kimi-k2-thinking-syn\n"
        f"  {PROG} explain kimi-k2.5-syn --env staging --json",
    ),
    "validate": (
        "every problem of the composed configuration, grouped by file (exit 2 on errors)",
        f"  {PROG} validate --env dev,staging,prod --strict    # in CI\n"
        f"  {PROG} validate --config-dir deploy/conf --env canary",
    ),
    "graph": (
        "the effective fallback graph as Mermaid, DOT, or (with Graphviz) SVG/PNG",
        f"  {PROG} graph > fallbacks.mmd\n"
        f"  {PROG} graph --env staging --format dot -o fallbacks.dot\n"
        f"  {PROG} graph --format svg -o fallbacks.svg    # needs Graphviz's `dot`",
    ),
    "diff": (
        "edges, models, provider settings and policy that differ between two envs",
        f"  {PROG} diff prod staging\n  {PROG} diff prod canary --config-dir deploy/conf --json",
    ),
    "health": (
        "the shared health of every enabled model (in rotation, out for N s, failures, last "
        "error), and a reset for a model an operator has fixed",
        f"  RESOLVER_REDIS_URL=redis://127.0.0.1:6379/0 {PROG} health policy.health.store=redis\n"
        f"  {PROG} health --reset deepseek-r1-0528-syn --env prod\n"
        f"  {PROG} health --reset-all --json",
    ),
    "show": (
        "the composed configuration as YAML (keys appear only as variable names)",
        f"  {PROG} show --env dev\n"
        f"  {PROG} show --info --enable glm-4.6-syn \\\n"
        f"      '++fallbacks={{glm-4.6-syn: [deepseek-v3.1]}}'",
    ),
    "compile": (
        "the validated configuration as a JSON snapshot, served without Hydra "
        "(resolver.load_snapshot, RESOLVER_SNAPSHOT)",
        f"  {PROG} compile --env prod -o fallbacks.prod.json\n"
        f"  RESOLVER_SNAPSHOT=fallbacks.prod.json python -m your_service\n"
        f"  {PROG} compile --env staging | less    # without -o: to stdout, no file written",
    ),
    "export": (
        "the validated configuration for another runtime: a LiteLLM proxy config, Portkey "
        "gateway configs, a TypeScript module, or the JSON Schema of compiled snapshots",
        f"  {PROG} export --format litellm --env prod -o litellm.yaml\n"
        f"  {PROG} export --format portkey -o portkey.json\n"
        f"  {PROG} export --format ts --env staging -o src/fallbacks.ts\n"
        f"  {PROG} export --format ts --snapshot fallbacks.prod.json -o src/fallbacks.ts\n"
        f"  {PROG} export --format json-schema -o snapshot.schema.json",
    ),
    "import": (
        "write a deployment config dir from another runtime's config (a LiteLLM proxy "
        "config.yaml); what cannot be carried over is reported",
        f"  {PROG} import --from litellm config.yaml -o deploy/conf\n"
        f"  {PROG} validate --config-dir deploy/conf --env imported",
    ),
    "serve": (
        "an OpenAI-compatible gateway: POST /v1/chat/completions through each model's chain "
        "(needs the gateway extra)",
        f"  {PROG} serve --env prod --port 8080\n"
        f"  RESOLVER_GATEWAY_KEYS=... {PROG} serve --host 0.0.0.0 --snapshot prod.json --watch\n"
        f"  kill -HUP <pid>    # reload; a bad config is refused and the last good one serves",
    ),
    "demo": (
        "watch a fallback, offline: a fake vendor on loopback fails a shipped model, and the "
        "gateway in front of it answers with the backup; prints a curl line and Python to try "
        "(needs the gateway extra)",
        f"  {PROG} demo\n  {PROG} demo --port 8080    # Ctrl+C stops it",
    ),
}
# compile, export and graph write generated files: rewritten on each run, never edited by hand.
# import writes config a user edits, and refuses to replace it without --force.
_GENERATED_HELP = (
    "write here instead of stdout; a file already there is replaced (it is generated: edit "
    "the configuration, not the file)"
)
_OVERRIDE_HELP = (
    "Hydra overrides, after the options: key=value, +key=value, ++key=value, ~key. "
    "An id with a dot needs a dict literal: '++fallbacks={kimi-k2.5-syn: [kimi-k2-instruct]}'"
)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser (for --help) and one parser per subcommand (for parsing)."""
    top = argparse.ArgumentParser(
        prog=PROG,
        usage=f"{PROG} [COMMAND] [options] [OVERRIDE ...]",
        description="Compose, check and explain the LLM fallback configuration. Without a "
        "command, prints the table of the enabled models' fallback chains: those with backups, "
        "then a count of the others (--all lists every model).",
        epilog="examples:\n"
        f"  {PROG}\n"
        f"  {PROG} lookup deepseek-r1-0528-syn --env prod\n"
        f"  {PROG} validate --env dev,staging,prod --strict\n\n"
        f"`{PROG} COMMAND --help` shows each command's options. Exit codes: 0 ok, 1 lookup found "
        "no fallback, 2 configuration or usage error.\nRESOLVER_ENV and RESOLVER_CONFIG_DIRS "
        "are the defaults of --env and --config-dir, as for the library.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = top.add_subparsers(title="commands", metavar="COMMAND")
    parsers = {}
    for name, (summary, examples) in _COMMANDS.items():
        p = sub.add_parser(
            name,
            prog=f"{PROG} {name}",
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=f"examples:\n{examples}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _add_command_arguments(name, p)
        if name == "import":  # reads a file of another tool; composes nothing
            _add_import_arguments(p)
        elif name == "demo":  # the shipped config on a fake vendor: nothing to configure
            p.add_argument(
                "--port", type=_port, default=0, help="gateway port (default: a free one)"
            )
        else:
            _add_common(p, json=name in _JSON_COMMANDS)
        parsers[name] = p
    return top, parsers


def _add_command_arguments(name: str, p: argparse.ArgumentParser) -> None:
    if name in ("lookup", "explain"):
        p.add_argument("model", metavar="MODEL", help="model id, e.g. deepseek-r1-0528-syn")
    if name == "table":
        p.add_argument(
            "--all",
            dest="every",
            action="store_true",
            help="list every enabled model, also those without backups (--json always does)",
        )
    if name in ("explain", "table"):
        what_if = p.add_argument_group(
            "what-if", "the routing as it would be, with no call made and no state changed"
        )
        for flag, metavar, text in (
            ("--assume-down", "ID", "take model (or group) ID out of rotation"),
            ("--assume-unset", "VAR", "take key variable VAR out of the environment"),
            ("--assume-spent", "BUDGET", "treat BUDGET as spent"),
        ):
            what_if.add_argument(
                flag, metavar=metavar, action="append", default=[], help=f"{text} (repeatable)"
            )
    elif name == "validate":
        p.add_argument("--strict", action="store_true", help="warnings fail too (exit 2)")
    elif name == "graph":
        p.add_argument(
            "-f", "--format", choices=("mermaid", "dot", "svg", "png"), default="mermaid"
        )
    if name in ("graph", "compile"):
        p.add_argument("-o", "--output", metavar="FILE", help=_GENERATED_HELP)
    elif name == "diff":
        p.add_argument("env_a", metavar="ENV_A")
        p.add_argument("env_b", metavar="ENV_B")
    elif name == "health":
        g = p.add_mutually_exclusive_group()
        g.add_argument(
            "--reset", metavar="MODEL", help="put MODEL back in rotation for every worker"
        )
        g.add_argument("--reset-all", action="store_true", help="put every model back in rotation")
    elif name == "show":
        p.add_argument(
            "--info", action="store_true", help="also the chosen config groups and search path"
        )
    elif name == "export":
        _add_export_arguments(p)
    elif name == "serve":
        _add_serve_arguments(p)


def _add_export_arguments(p: argparse.ArgumentParser) -> None:
    from .export import FORMATS

    p.add_argument("-f", "--format", choices=FORMATS, required=True)
    p.add_argument("-o", "--output", metavar="FILE", help=_GENERATED_HELP)
    p.add_argument(
        "--snapshot",
        metavar="FILE",
        help="export a compiled snapshot instead of composing (takes no configuration flags)",
    )


def _add_import_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="source_format", choices=("litellm",), required=True)
    p.add_argument("file", metavar="FILE", help="the other tool's configuration file")
    p.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        required=True,
        help="the config dir to write; if a file it would write is already there, nothing is "
        "written (exit 2) unless --force",
    )
    p.add_argument(
        "--name",
        default="imported",
        help="name of the env written, env/NAME.yaml (default: imported)",
    )
    p.add_argument(
        "--partial",
        action="store_true",
        help="write what could be imported even when some deployments or edges could not",
    )
    p.add_argument("--force", action="store_true", help="overwrite files already in DIR")
    p.add_argument(
        "--config-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="a config dir whose registry/ extends or overrides the vendor registry (repeatable)",
    )
    p.set_defaults(model_flags=[], overrides=[])


def _add_serve_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("gateway")
    g.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    g.add_argument("--port", type=int, default=8080, help="port to bind (default: 8080)")
    g.add_argument(
        "--snapshot",
        metavar="FILE",
        default=os.environ.get("RESOLVER_SNAPSHOT") or None,
        help="serve a compiled snapshot instead of composing (default: $RESOLVER_SNAPSHOT)",
    )
    g.add_argument(
        "--watch",
        action="store_true",
        help="reload when a file of the config dirs (or the snapshot) changes; SIGHUP always does",
    )
    g.add_argument(
        "--grace-s",
        type=float,
        default=30.0,
        help="on SIGTERM, how long requests and streams in flight may finish; what is left "
        "then gets a 503 and the exit status is 3 (default: 30)",
    )
    g.add_argument(
        "--max-body-bytes",
        type=int,
        default=4 * 1024 * 1024,
        metavar="N",
        help="larger request bodies get a 413 (default: 4 MiB)",
    )
    g.add_argument(
        "--max-messages",
        type=int,
        default=1000,
        metavar="N",
        help="requests with more messages get a 400 (default: 1000)",
    )
    g.add_argument(
        "--max-depth",
        type=int,
        default=128,
        metavar="N",
        help="request bodies nested deeper get a 400 (default: 128)",
    )
    g.add_argument(
        "--header-timeout-s",
        type=float,
        default=10.0,
        metavar="S",
        help="a connection that has not sent a request's head within S seconds is closed, "
        "with a 408 if it began one (default: 10)",
    )
    g.add_argument(
        "--body-timeout-s",
        type=float,
        default=60.0,
        metavar="S",
        help="a request whose body has not arrived S seconds after its head gets a 408 "
        "(default: 60)",
    )
    g.add_argument(
        "--keep-alive-s",
        type=float,
        default=5.0,
        metavar="S",
        help="an idle kept-alive connection is closed after S seconds (default: 5)",
    )
    g.add_argument(
        "--max-connections",
        type=int,
        default=None,
        metavar="N",
        help="open client connections per process; at the cap the oldest idle one is closed, "
        "and with none idle the newcomer gets a 503 (default: what the descriptor limit, "
        "ulimit -n, leaves room for)",
    )
    g.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes; they share health only through Redis (policy.health.store)",
    )
    g.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve beyond loopback without client keys (RESOLVER_GATEWAY_KEYS)",
    )


def _add_common(p: argparse.ArgumentParser, *, json: bool) -> None:
    g = p.add_argument_group("configuration")
    g.add_argument(
        "--env",
        metavar="NAME",
        help="deployment overlay env/NAME.yaml (default: $RESOLVER_ENV, else prod)"
        + ("; validate takes several: dev,staging,prod" if p.prog.endswith("validate") else ""),
    )
    g.add_argument(
        "--config-dir",
        metavar="DIR",
        action="append",
        default=[],
        help="add a deployment config tree, searched before the shipped one (repeatable)",
    )
    g.add_argument("--config-path", metavar="DIR", help="replace the shipped config tree")
    # One list in command-line order for the three model flags, so that the later of
    # `--disable X ... --enable X` wins, as it would for two overrides.
    for flag, metavar, text in (
        ("--fallback", "MODEL=B1,B2", "replace MODEL's backups; MODEL= removes them"),
        ("--disable", "MODEL", "disable MODEL"),
        ("--enable", "MODEL", "enable MODEL"),
    ):
        g.add_argument(
            flag,
            metavar=metavar,
            dest="model_flags",
            action="append",
            type=functools.partial(_tagged, flag),
            default=[],
            help=f"{text} (repeatable; dotted ids work)",
        )
    if json:
        p.add_argument("--json", action="store_true", help="machine-readable output")
    # default=[]: without it argparse lists OVERRIDE as "required" when MODEL is missing.
    p.add_argument("overrides", metavar="OVERRIDE", nargs="*", default=[], help=_OVERRIDE_HELP)


def _port(text: str) -> int:
    from .fake_vendor import port_number  # imported only when a port is parsed

    return port_number(text)


def _tagged(flag: str, value: str) -> tuple[str, str]:
    return flag, value


def _route(argv: list[str]) -> tuple[str | None, list[str]]:
    """The subcommand and the rest of argv; None for top-level --help/--version.

    The subcommand may come after options (`--env dev lookup X`); without one it is `table`,
    so that `fallback-resolver policy.max_depth=1` works.
    """
    skip = False
    for i, token in enumerate(argv):
        if skip:
            skip = False
        elif token in _VALUED:
            skip = True
        elif token in ("-h", "--help", "--version"):
            return None, argv
        elif token == "--":
            break
        elif not token.startswith("-"):
            if token in _COMMANDS:
                return token, argv[:i] + argv[i + 1 :]
            if "=" not in token and not token.startswith(("~", "+")):
                hint = did_you_mean(token, _COMMANDS)
                hint = f"; {hint}" if hint else ""
                raise UsageError(
                    f"unknown command {token!r}{hint} (commands: {', '.join(_COMMANDS)})"
                )
            break
    return "table", argv


def _is_override(token: str) -> bool:
    return "=" in token or token.startswith(("~", "+"))


def _sort_positionals(args: argparse.Namespace) -> None:
    """Overrides may come anywhere (`lookup policy.max_depth=1 MODEL`): argparse fills the
    command's own positionals (MODEL, ENV_A ENV_B) first, so give them the words that are not
    overrides; a word left among the overrides is a mistake, said as such."""
    names = [n for n in ("model", "env_a", "env_b") if hasattr(args, n)]
    tokens = [getattr(args, n) for n in names] + list(args.overrides)
    words = [t for t in tokens if not _is_override(t)]
    if len(words) >= len(names) and any(_is_override(getattr(args, n)) for n in names):
        for name, word in zip(names, words, strict=False):
            setattr(args, name, word)
        rest = list(tokens)
        for word in words[: len(names)]:
            rest.remove(word)
        args.overrides = rest
    stray = [t for t in args.overrides if not _is_override(t)]
    if not stray:
        return
    if args.env:
        envs = ",".join([args.env, *stray])
        raise UsageError(
            f"{stray[0]!r} is not an override: --env takes one name, or for validate a comma "
            f"list without spaces: --env {envs}"
        )
    raise UsageError(f"unexpected argument {stray[0]!r}: an override is key=value (or ~key)")


def _model_overrides(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(Hydra override, the flag that asked for it) for each model flag, in order."""
    made: list[tuple[str, str]] = []
    for flag, value in args.model_flags:
        if flag == "--fallback":
            made.append((_fallback_override(value), f"--fallback {value}"))
            continue
        patch = (
            "{enabled: false, disabled_reason: 'set by --disable'}"
            if flag == "--disable"
            else "{enabled: true, disabled_reason: null}"
        )
        made.append((f"++models={{{_key(value)}: {patch}}}", f"{flag} {value}"))
    return made


def _fallback_override(spec: str) -> str:
    model, eq, backups = spec.partition("=")
    targets = [b.strip() for b in backups.split(",")] if backups.strip() else []
    if not eq or not model.strip() or not all(targets):
        raise UsageError(
            f"--fallback {spec!r}: expected MODEL=B1,B2 (or MODEL= to remove its backups)"
        )
    values = ", ".join(_quoted(t) for t in targets)
    return f"++fallbacks={{{_key(model)}: [{values}]}}"


# Hydra's dict-literal keys are unquoted: these characters need a backslash there.
_KEY_SPECIAL = re.compile(r"([\\:,=(){}\[\] ])")
_NOT_TEXT = re.compile(r"[-+]?(\d[\d_]*(\.\d*)?([eE][-+]?\d+)?|inf|nan)|true|false|null", re.I)


def _key(model: str) -> str:
    model = model.strip()
    if not model or "'" in model or '"' in model or _NOT_TEXT.fullmatch(model):
        raise UsageError(f"{model!r} cannot be used as a model id on the command line")
    return _KEY_SPECIAL.sub(r"\\\1", model)


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _dirs_from_environment() -> list[str]:
    return [d for d in os.environ.get("RESOLVER_CONFIG_DIRS", "").split(os.pathsep) if d]


def _labels(args: argparse.Namespace, made: list[tuple[str, str]]) -> dict[str, str]:
    """How problems name what this run was given: the flag behind each generated override, and
    the variable behind an env or config dir that came from the environment."""
    labels = {f"override {line!r}": flag for line, flag in made}
    if not args.env and os.environ.get("RESOLVER_ENV"):
        labels["key env"] = "env (from RESOLVER_ENV)"
    for i, _ in enumerate(_dirs_from_environment()):
        labels[f"key config_dirs[{i}]"] = f"config_dirs[{i}] (from RESOLVER_CONFIG_DIRS)"
    return labels


def _context(args: argparse.Namespace, env: str | None, made: list[tuple[str, str]]) -> Context:
    overrides = (*(line for line, _ in made), *args.overrides)  # trailing ones win
    dirs = _dirs_from_environment() + list(args.config_dir)
    return Context(
        env=env,
        overrides=tuple(overrides),
        labels=_labels(args, made),
        config_dirs=tuple(dirs),
        config_path=args.config_path,
        as_json=getattr(args, "json", False),
        out=Out(),
    )


def _run(command: str, args: argparse.Namespace, made: list[tuple[str, str]]) -> int:
    if command == "demo":
        from .demo import cmd_demo

        return cmd_demo(args.port)
    if command == "import":
        return cmd_import(
            args.source_format,
            args.file,
            args.output,
            args.name,
            partial=args.partial,
            force=args.force,
            config_dirs=args.config_dir,
        )
    env_arg: str | None = args.env or os.environ.get("RESOLVER_ENV") or None
    envs = [e.strip() for e in env_arg.split(",")] if env_arg else [None]
    if command == "validate":
        return cmd_validate(_context(args, None, made), envs, strict=args.strict)
    if len(envs) > 1:
        raise UsageError("only `validate` takes several envs; give --env one name")
    if command == "diff" and args.env:
        raise UsageError("diff compares the two envs it is given: drop --env")
    ctx = _context(args, envs[0], made)
    if command == "lookup":
        return cmd_lookup(ctx, args.model)
    if command == "explain":
        return cmd_explain(ctx, args.model, assume=_assumptions(args))
    if command == "graph":
        return cmd_graph(ctx, args.format, args.output)
    if command == "diff":
        return cmd_diff(ctx, args.env_a, args.env_b)
    if command == "show":
        return cmd_show(ctx, info=args.info)
    if command == "health":
        return cmd_health(ctx, reset=args.reset, reset_all=args.reset_all)
    if command == "compile":
        return cmd_compile(ctx, args.output)
    if command == "export":
        return cmd_export(ctx, args.format, args.output, args.snapshot)
    if command == "serve":
        return cmd_serve(ctx, args)
    return cmd_table(ctx, assume=_assumptions(args), every=args.every)


def _assumptions(args: argparse.Namespace) -> Assumptions:
    return Assumptions(
        down=tuple(getattr(args, "assume_down", ())),
        unset=tuple(getattr(args, "assume_unset", ())),
        spent=tuple(getattr(args, "assume_spent", ())),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 no fallback, 2 error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    labels: dict[str, str] = {}
    try:
        top, parsers = build_parser()
        command, rest = _route(argv)
        if command is None:
            top.parse_args(rest)  # prints help or version, and exits
            return 0
        args = parsers[command].parse_intermixed_args(rest)
        if command in ("import", "demo"):  # no configuration flags: nothing to sort or label
            return _run(command, args, [])
        _sort_positionals(args)
        made = _model_overrides(args)
        labels = _labels(args, made)
        return _run(command, args, made)
    except SystemExit as e:  # argparse: --help (0) and usage errors (2)
        return e.code if isinstance(e.code, int) else 2
    except ConfigError as e:
        ctx = Context(None, (), labels, (), None, False, Out())
        print(f"{PROG}: {ctx.config_error(e)}", file=sys.stderr)
        return 2
    except ResolverError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Piped into `head`: the reader is gone, which is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
