"""Read a stack file ``Pulumi.<stack>.yaml`` the way the Pulumi CLI does.

The Pulumi CLI (Go) reads stack files with ``gopkg.in/yaml.v3 v3.0.1`` (``pkg/go.mod``,
``sdk/go.mod``; no ``replace``): ``workspace.LoadProjectStack`` ->
``LoadProjectStackBytes`` (``sdk/go/common/workspace/loaders.go:151,173``) ->
``encoding.YAML.Unmarshal`` = ``yaml.Unmarshal`` (``sdk/go/common/encoding/marshal.go:115``)
into ``any``; the result is re-encoded with ``yamlutil.YamlEncode`` (loaders.go:219) and
decoded again into ``ProjectStack``, whose ``config.Value.UnmarshalYAML`` decodes each value
into ``any`` once more and stores it as a string: scalars as their JSON text, objects as JSON
(``sdk/go/common/resource/config/object.go:403-463``). The engine hands the program that
``map[string]string`` (``PULUMI_CONFIG``), and ``pulumi.Config.get_object`` JSON-decodes it.

yaml.v3 resolves plain scalars with YAML 1.2-ish rules (``resolve.go`` at v3.0.1), PyYAML with
YAML 1.1 rules, so the same text can mean two things (``regional: no`` is ``False`` for PyYAML
and the string ``"no"`` for the CLI). :func:`load` parses with PyYAML's (C) parser -- yaml.v3's
parser is a port of libyaml, so syntax agrees -- but resolves and constructs every value as
the CLI does, and returns what the program then sees:

* plain scalars follow yaml.v3's ``resolve()`` (ported below as :func:`go_resolve`, each
  branch citing ``resolve.go``); quoted and block scalars are strings; ``! x`` resolves like
  a plain scalar; ``!!int``-style tags are checked as yaml.v3 checks them; unknown tags on
  scalars give the text; tags on mappings and sequences are ignored (``decode.go:767``);
* floats arrive as the JSON the CLI writes: an integral float below 1e21 is an ``int``
  (``1.0`` and ``1e3`` reach the program as ``1`` and ``1000``); ``.inf``/``.nan`` make the
  CLI fail (Go's JSON refuses them), so they raise :class:`YamlError` here;
* timestamps (``2001-12-14``) reach the program as Go's ``time.Time.String()``
  (``"2001-12-14 00:00:00 +0000 UTC"``), always flagged;
* mapping keys that are not strings are passed on as Go's ``%v`` text (``1`` -> ``"1"``,
  ``true`` -> ``"true"``, ``object.go:505-510``); duplicate keys are an error (yaml.v3 checks
  ``uniqueKeys``, ``decode.go:769-779``); merge keys ``<<`` work as in yaml.v3 (explicit keys
  win, then the first merged map, ``decode.go:800-862,960-996``);
* only the first document is read (``yaml.go:156-173``); a leading BOM is dropped.

A plain scalar whose YAML 1.1 reading differs from the CLI's (or that is a YAML 1.1-only
spelling, below) comes back flagged: a ``str``/``int``/``float`` subclass (see
:class:`Yaml11Ambiguous`) whose value is what the program sees, carrying the YAML 1.1 reading
and the position. A validator that expects a boolean or a number calls
:func:`describe_ambiguous` and refuses the value with the hint it returns.

Flagged (``go`` is yaml.v3's reading, ``yaml11`` PyYAML's):

* ``y``, ``n``, ``yes``, ``no``, ``on``, ``off`` in any case (the CLI: strings);
* any scalar YAML 1.1 reads as a bool, number, timestamp or null that the CLI reads
  differently (``1:30`` is 90 in YAML 1.1 and the string ``"1:30"`` for the CLI; ``.5_``;
  ``1.0e+400``; integers beyond 64 bits, which the CLI reads as a float);
* any scalar the CLI reads as a number that YAML 1.2 reads differently: leading-zero octals
  (``0755`` is 493 for the CLI and for YAML 1.1 but 755 in YAML 1.2), ``0b101``, digit
  underscores (``1_000``), signed or upper-case base prefixes (``-0x1F``, ``0X1F``), and
  Go-only readings such as ``08`` (a float 8.0: not octal, so ``ParseFloat`` takes it);
* every other multi-digit integer with a leading zero (``007``) and every timestamp.

Not flagged: YAML 1.2 spellings that YAML 1.1 merely does not know -- ``0o755``, ``1e3``,
``+.5`` -- since the CLI and YAML 1.2 agree on them and a YAML 1.1 reader sees a string,
which no boolean or number check would accept silently.

Left to the caller (not YAML): the CLI passes a top-level config key whose value is null as the
empty string (a zero ``config.Value``; ``LoadProjectStackBytes`` warns about it), namespaces keys
written without ``<project>:``, and Go's JSON sorts object keys (dicts here keep file order).
A timestamp with a non-zero offset prints its zone as the offset (``-0500 -0500``), which is what
a CLI whose local zone is UTC prints; elsewhere Go may name the zone (``-0500 EST``).
"""

from __future__ import annotations

from .golang import BOOL, FLOAT, INT, NULL, STR, TIMESTAMP, GoTime
from .loader import YamlError, load
from .readings import (
    Yaml11Ambiguous,
    Yaml11AmbiguousFloat,
    Yaml11AmbiguousInt,
    describe_ambiguous,
    is_ambiguous,
)
from .resolve import go_resolve

__all__ = [
    "BOOL",
    "FLOAT",
    "INT",
    "NULL",
    "STR",
    "TIMESTAMP",
    "GoTime",
    "YamlError",
    "Yaml11Ambiguous",
    "Yaml11AmbiguousFloat",
    "Yaml11AmbiguousInt",
    "describe_ambiguous",
    "go_resolve",
    "is_ambiguous",
    "load",
]

