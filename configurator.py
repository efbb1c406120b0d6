"""nanoGPT-style configuration: module-level defaults, then config files, then --key=value.

    python train.py config/babilong_lm2.py --batch_size=8 --memory=rmt

A config file is Python whose top-level assignments override the defaults. Every key must be a
known default and every value must have the default's type (an int is accepted for a float;
a default of None accepts anything), otherwise the run stops with a message naming the key.
"""
import ast
import sys
from pathlib import Path


class ConfigError(ValueError):
    pass


def _checked(key, value, defaults, where):
    if key not in defaults:
        close = [k for k in defaults if k.split("_")[0] == key.split("_")[0]]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"{where}: unknown config key {key!r}{hint}")
    default = defaults[key]
    if default is None or type(value) is type(default):
        return value
    if isinstance(default, float) and type(value) is int:
        return float(value)
    if isinstance(default, tuple) and isinstance(value, list):
        return tuple(value)
    raise ConfigError(f"{where}: {key}={value!r} has type {type(value).__name__}, "
                      f"expected {type(default).__name__} like the default {default!r}")


def _parse_value(text, default):
    if isinstance(default, str):
        return text  # strings need no quotes on the command line
    if isinstance(default, bool) and text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # left as a string: the type check then names the key


def configure(defaults, argv=None, given=None):
    """Returns a copy of `defaults` with the config files and --key=value items of argv applied.
    `given`, a set, collects the keys that config files or the command line set."""
    config = dict(defaults)
    given = set() if given is None else given
    for arg in sys.argv[1:] if argv is None else argv:
        if arg.startswith("--"):
            key, sep, text = arg[2:].partition("=")
            if not sep:
                raise ConfigError(f"{arg}: overrides are written --key=value")
            config[key] = _checked(key, _parse_value(text, defaults.get(key)), defaults, arg)
            given.add(key)
        else:
            path = Path(arg)
            if not path.is_file():
                raise ConfigError(f"config file {arg!r} not found")
            namespace = {}
            exec(compile(path.read_text(), str(path), "exec"), namespace)
            for key, value in namespace.items():
                if not key.startswith("_") and not callable(value) and type(value).__name__ != "module":
                    config[key] = _checked(key, value, defaults, str(path))
                    given.add(key)
    return config


def run_cli(prog, main, user_errors=(ConfigError,)):
    """Runs main(). A user error (bad setting, missing file) ends with one line naming it and
    exit status 2, without a traceback; anything else is a bug and traces back as usual."""
    try:
        return main()
    except user_errors as e:
        print(f"{prog}: {e}", file=sys.stderr)
        sys.exit(2)
