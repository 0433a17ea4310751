"""Kuscia's own Go unit tests, as vectors for the builders.

Each row names the Go test (or, for a probe, the Go function under test) it
comes from, holds the input and Kuscia's expected output, and runs the
builders on that input. A row agrees when the builders give Kuscia's answer.
A row that `differs` does so on purpose: it asserts this project's answer,
keeps Kuscia's beside it, and names its row in README.md's table "Where this
project differs from Kuscia, and why".

The Go tests, in Kuscia's repository (secretflow/kuscia):
pkg/agent/middleware/plugins/hook/configrender/config_render_test.go (RENDER),
pkg/utils/common/template_test.go (QUERY), pkg/utils/resources/service_test.go
(NAMES), pkg/utils/resources/appimages_test.go (SELECT),
pkg/controllers/kusciatask/handler/pending_handler_test.go (TASK) and
pkg/controllers/kusciadeployment/util_test.go (DEFINE: its cluster define and
port code is what KusciaTask's handler has too). PLAIN probes the escaping of
config_render.go.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from builders import BuildError, Cluster, Plan, cluster_define, naming, plan, rendering, selection
from builders.models import AppImage, ContainerPort, Party
from builders.networkpolicy import ingress_domains
from builders.validation import check
from tests.builders.examples import TASK_UID as TASK_UID_VALUE
from tests.builders.examples import make_app_image, make_task, objects_of, party

README = Path(__file__).resolve().parents[2] / "README.md"
SAME: Any = object()


@dataclass(frozen=True)
class Refused:
    """The input is refused: Kuscia returns an error; the builders raise one with `reason`."""

    reason: str = ""


@dataclass(frozen=True)
class Vector:
    source: str  # the Go test, "file.go TestName", or "file.go funcName" for a probe
    name: str
    run: Callable[[], Any]  # this project's answer
    kuscia: Any  # Kuscia's expected output
    ours: Any = SAME  # this project's answer where it differs on purpose
    differs: str = ""  # the README row saying why

    @property
    def id(self) -> str:
        return f"{self.source.split()[-1]}: {self.name}"


def _agrees(got: Any, expected: Any) -> bool:
    if isinstance(expected, Refused) and isinstance(got, Refused):
        return not expected.reason or expected.reason == got.reason
    return bool(got == expected)


# --- running the builders -------------------------------------------------------------


def _render(template: str, values: dict[str, str]) -> Any:
    try:
        compiled = rendering.compile_template("task-config.conf", template)
    except (rendering.TemplateSyntaxError, rendering.TemplateRefused):
        return Refused("ConfigRenderFailed")
    return rendering.render(compiled, values, limit=1024 * 1024).text


def _render_json(template: str, values: dict[str, str]) -> Any:
    rendered = _render(template, values)
    return rendered if isinstance(rendered, Refused) else json.loads(rendered)


def _plan(
    image: AppImage | dict[str, AppImage], task_parties: list[dict[str, Any]], **task: Any
) -> Any:
    images = image if isinstance(image, dict) else {image.metadata.name: image}
    namespaces = frozenset(p["domainID"] for p in task_parties)
    try:
        return plan(make_task(task_parties, **task), images, Cluster(namespaces=namespaces))
    except BuildError as error:
        return Refused(error.reason)


def _config(result: Plan, pod: str, file: str = "task-config.conf") -> str:
    maps = objects_of("ConfigMap", result.objects)
    data: str = next(m["data"][file] for m in maps if m["metadata"]["name"] == f"{pod}-config")
    return data


def _names(result: Any, kind: str) -> Any:
    if isinstance(result, Refused):
        return result
    return sorted(
        (o["metadata"]["namespace"], o["metadata"]["name"])
        for o in objects_of(kind, result.objects)
    )


def _image(
    containers: list[dict[str, Any]], *, role: str = "", replicas: int = 1, **kwargs: Any
) -> AppImage:
    template = {
        "name": "abc",
        "role": role,
        "replicas": replicas,
        "spec": {"containers": containers},
    }
    return make_app_image(deploy_templates=[template], **kwargs)


def _port(name: str, scope: str, port: int | None = None, protocol: str = "HTTP") -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "scope": scope, "protocol": protocol}
    if port is not None:
        entry["port"] = port
    return entry


# --- render: config_render_test.go ----------------------------------------------------

CONFIG_RENDER = "config_render_test.go"
DB_INFO_TEMPLATE = """
\t{
\t\t"db_info": "{{.DB_INFO}}",
\t\t"db_info_user": "{{{.DB_INFO.user}}}",
\t\t"db_info_host": "{{{.DB_INFO.host}}}",
\t   "db_info_user_host": "{{{.DB_INFO.user}}}-{{{.DB_INFO.host}}}",
\t   "db_info_user.host": "{{{.DB_INFO.user}}}.{{{.DB_INFO.host}}}"
\t}"""
PSI_POD = "secretflow-task-20240816114341-single-psi-0"
PSI_CLUSTER_DEFINE = json.dumps(  # the test's clusterDefine: Cluster endpoints without a port
    {
        "parties": [
            {
                "name": domain,
                "role": "",
                "services": [
                    {"portName": "spu", "endpoints": [f"{PSI_POD}-spu.{domain}.svc"]},
                    {"portName": "fed", "endpoints": [f"{PSI_POD}-fed.{domain}.svc"]},
                    {"portName": "global", "endpoints": [f"{PSI_POD}-global.{domain}.svc:{port}"]},
                ],
            }
            for domain, port in (("alice", 23321), ("bob", 20002))
        ],
        "selfPartyIdx": 1,
        "selfEndpointIdx": 0,
    },
    indent="\t",
)
MAP_DEFINE = '{"alice":"test.alice.svc","bob":"test.bob.svc"}'  # Go's json.Marshal of the map
ESCAPED_MAP_DEFINE = '{\\"alice\\":\\"test.alice.svc\\",\\"bob\\":\\"test.bob.svc\\"}'
STRUCT_DEFINE = '{"parties":[],"selfPartyIdx":1,"selfEndpointIdx":0}'  # protojson, unpopulated


def _env_image(env: dict[str, str], template: str) -> AppImage:
    container = {
        "name": "test-container",
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "configVolumeMounts": [{"mountPath": "/etc/test.conf", "subPath": "task-config.conf"}],
    }
    return _image([container], config_templates={"task-config.conf": template})


def _rendered_for_env(env: dict[str, str], template: str) -> Any:
    result = _plan(_env_image(env, template), [party("alice")])
    return result if isinstance(result, Refused) else _config(result, "t1-0")


RENDER = [
    Vector(
        f"{CONFIG_RENDER} TestConfigRender_ExecHookWithMakeMountsContext",
        "container env names are upper-cased for the template",
        lambda: _rendered_for_env({"key_a": "aaa", "key_b": "bbb"}, "{{.KEY_A}}-{{.KEY_B}}"),
        "aaa-bbb",
    ),
    Vector(
        f"{CONFIG_RENDER} TestConfigRender_ExecHookWithSyncPodContext",
        "a container env value fills its variable",
        lambda: _rendered_for_env({"AA": "BB"}, "aa={{.AA}}"),
        "aa=BB",
    ),
    Vector(
        f"{CONFIG_RENDER} TestConfigRender_renderConfigDirectory",
        "a.conf",
        lambda: _render("{{.KEY_A}}", {"KEY_A": "aaa", "KEY_B": "bbb"}),
        "aaa",
    ),
    Vector(
        f"{CONFIG_RENDER} TestConfigRender_renderConfigDirectory",
        "sub/b.conf",
        lambda: _render("{{.KEY_B}}", {"KEY_A": "aaa", "KEY_B": "bbb"}),
        "bbb",
    ),
    Vector(
        f"{CONFIG_RENDER} TestConfigFormat",
        "json: the cluster define escaped inside a JSON string",
        lambda: _render(
            '\n{\n\t"task_id": "{{.TASK_ID}}",\n'
            '\t"task_cluster_define": "{{.TASK_CLUSTER_DEFINE}}"\n}',
            {"TASK_ID": "abc", "TASK_CLUSTER_DEFINE": MAP_DEFINE},
        ),
        f'\n{{\n\t"task_id": "abc",\n\t"task_cluster_define": "{ESCAPED_MAP_DEFINE}"\n}}',
    ),
    Vector(
        f"{CONFIG_RENDER} TestConfigFormat",
        "yaml: the cluster define escaped inside a quoted scalar",
        lambda: _render(
            '\ntask_id: "{{.TASK_ID}}"\ntask_cluster_define: "{{.TASK_CLUSTER_DEFINE}}"\n',
            {"TASK_ID": "abc", "TASK_CLUSTER_DEFINE": MAP_DEFINE},
        ),
        f'\ntask_id: "abc"\ntask_cluster_define: "{ESCAPED_MAP_DEFINE}"\n',
    ),
    Vector(
        f"{CONFIG_RENDER} TestBuildStructMap_WithStruct",
        "a number read from the cluster define",
        lambda: _render_json(
            '\n\t{\n\t\t"task_id": "{{.TASK_ID}}",\n\t\t"task_cluster_define": '
            '"{{.TASK_CLUSTER_DEFINE}}",\n'
            '\t\t"my_party": "{{{.TASK_CLUSTER_DEFINE.selfPartyIdx}}}"\n\t}',
            {"TASK_ID": "abc", "TASK_CLUSTER_DEFINE": STRUCT_DEFINE},
        ),
        {"task_id": "abc", "task_cluster_define": STRUCT_DEFINE, "my_party": "1"},
    ),
    Vector(
        f"{CONFIG_RENDER} TestBuildStructMap_WithOrg",
        "{{.NAME.field}} with two braces",
        lambda: _render(
            '"my_party": "{{.TASK_CLUSTER_DEFINE.selfPartyIdx}}"',
            {"TASK_CLUSTER_DEFINE": STRUCT_DEFINE},
        ),
        '"my_party": "1"',  # Go's text/template over decoded values, as that test runs it
        ours=Refused("ConfigRenderFailed"),
        differs="two-brace-path",
    ),
    Vector(
        f"{CONFIG_RENDER} TestBuildStructMap_WithOrg",
        "{{.NAME.list[0].x}} is a parse error",
        lambda: _render(
            '"p1_name": "{{.TASK_CLUSTER_DEFINE.parties[0].name}}"',
            {"TASK_CLUSTER_DEFINE": STRUCT_DEFINE},
        ),
        Refused(),
    ),
    Vector(
        f"{CONFIG_RENDER} TestBuildStructMap_WithOrg",
        "{{.NAME.list[key=value].x}} is a parse error",
        lambda: _render(
            '"p1_name": "{{.TASK_CLUSTER_DEFINE.parties[name=test].name}}"',
            {"TASK_CLUSTER_DEFINE": STRUCT_DEFINE},
        ),
        Refused(),
    ),
    Vector(
        f"{CONFIG_RENDER} TestRenderConfig_WithKusciaCM",
        "a variable from Kuscia's config manager",
        lambda: _render_json(DB_INFO_TEMPLATE, {}),
        {
            "db_info": '{"user": "kuscia", "host": "localhost"}',
            "db_info_user": "kuscia",
            "db_info_host": "localhost",
            "db_info_user_host": "kuscia-localhost",
            "db_info_user.host": "kuscia.localhost",
        },
        ours={
            "db_info": "",
            "db_info_user": "",
            "db_info_host": "",
            "db_info_user_host": "-",
            "db_info_user.host": ".",
        },
        differs="config-manager",
    ),
    Vector(
        f"{CONFIG_RENDER} TestRenderConfig_WithKusciaCM",
        "queries into a JSON variable, joined with text",
        lambda: _render_json(
            DB_INFO_TEMPLATE, {"DB_INFO": '{"user": "kuscia", "host":"localhost"}'}
        ),
        {
            "db_info": '{"user": "kuscia", "host":"localhost"}',
            "db_info_user": "kuscia",
            "db_info_host": "localhost",
            "db_info_user_host": "kuscia-localhost",
            "db_info_user.host": "kuscia.localhost",
        },
    ),
    Vector(
        f"{CONFIG_RENDER} TestRenderConfig_WithKusciaCM",
        "an index read from another query",
        lambda: _render_json(
            '\n\t{\n        "self_endpoint": "{{{.TASK_CLUSTER_DEFINE.parties'
            '[.TASK_CLUSTER_DEFINE.selfPartyIdx].services[0].endpoints[0]}}}"\n\t}',
            {"TASK_CLUSTER_DEFINE": PSI_CLUSTER_DEFINE},
        ),
        {"self_endpoint": "secretflow-task-20240816114341-single-psi-0-spu.bob.svc"},
    ),
    Vector(
        f"{CONFIG_RENDER} TestMergeDataMaps_WithJsonMap",
        "a JSON object variable is read into",
        lambda: _render("{{{.KEY1.xyz}}}", {"KEY1": '{"xyz":1}', "KEY2": "124"}),
        "1",
    ),
    Vector(
        f"{CONFIG_RENDER} TestMergeDataMaps_WithJsonMap",
        "a JSON number variable stays text",
        lambda: _render("{{{.KEY2}}}", {"KEY1": '{"xyz":1}', "KEY2": "124"}),
        "124",
    ),
    Vector(
        f"{CONFIG_RENDER} TestBuildStructMap_WithJsonArray",
        "a JSON array variable",
        lambda: _render("{{{.KEY1}}}", {"KEY1": "[1,2,3]", "KEY2": '["1"]'}),
        "[1,2,3]",
    ),
    Vector(
        f"{CONFIG_RENDER} TestBuildStructMap_WithJsonArray",
        "an element of a JSON array variable",
        lambda: _render("{{{.KEY2[0]}}}", {"KEY1": "[1,2,3]", "KEY2": '["1"]'}),
        "1",
    ),
    Vector(
        f"{CONFIG_RENDER} TestBuildStructMap_WithJsonMapArray",
        "a key of an object in an array",
        lambda: _render("{{{.KEY3[0].xyz}}}", {"KEY3": '[{"xyz":"1"}]', "KEY4": '{"xyz":["2"]}'}),
        "1",
    ),
    Vector(
        f"{CONFIG_RENDER} TestBuildStructMap_WithJsonMapArray",
        "an array in an object",
        lambda: _render("{{{.KEY4.xyz}}}", {"KEY3": '[{"xyz":"1"}]', "KEY4": '{"xyz":["2"]}'}),
        '["2"]',
    ),
]


# --- query: template_test.go, and probes of the code it tests --------------------------

TEMPLATE_GO = "template_test.go TestQueryByFields"
QUERY_GO = "template.go QueryByFields"
V1 = '{"v1":"xyz","v2":10,"v3":{"s1":"abc","s2":["x","y","z"]},"v4":[{"t1":"10"},{"t1":"20"}]}'


def _query(path: str, value: str = V1, **more: str) -> Any:
    return _render("{{{" + path + "}}}", {"V": value, **more})


QUERY = [
    Vector(TEMPLATE_GO, ".v1", lambda: _query(".V.v1"), "xyz"),
    Vector(TEMPLATE_GO, ".v2", lambda: _query(".V.v2"), "10"),
    Vector(TEMPLATE_GO, ".v3.s1", lambda: _query(".V.v3.s1"), "abc"),
    Vector(TEMPLATE_GO, ".v3.s2[0]", lambda: _query(".V.v3.s2[0]"), "x"),
    Vector(TEMPLATE_GO, ".v4[0].t1", lambda: _query(".V.v4[0].t1"), "10"),
    Vector(TEMPLATE_GO, ".v4[t1=20].t1", lambda: _query(".V.v4[t1=20].t1"), "20"),
    Vector(TEMPLATE_GO, ".v3.v4[t1=20].t1 finds nothing", lambda: _query(".V.v3.v4[t1=20].t1"), ""),
    Vector(QUERY_GO, "[-1] is the last element", lambda: _query(".V.v3.s2[-1]"), "z"),
    Vector(QUERY_GO, "[-2]", lambda: _query(".V.v3.s2[-2]"), "y"),
    Vector(QUERY_GO, "[-len] is out of range", lambda: _query(".V.v3.s2[-3]"), ""),
    Vector(QUERY_GO, "[len] is out of range", lambda: _query(".V.v3.s2[3]"), ""),
    Vector(QUERY_GO, "[-1] then a key", lambda: _query(".V.v4[-1].t1"), "20"),
    Vector(QUERY_GO, "[+1] as strconv.Atoi reads it", lambda: _query(".V.v3.s2[+1]"), "y"),
    Vector(
        QUERY_GO,
        "a negative index read from another query",
        lambda: _query(".V.l[.V.i]", '{"i": -1, "l": ["a", "b"]}'),
        "b",
    ),
    Vector(
        QUERY_GO,
        "an index 1.0 read from another query",
        lambda: _query(".V.l[.V.i]", '{"i": 1.0, "l": ["a", "b"]}'),
        "b",
    ),
    Vector(
        QUERY_GO,
        "an object result: compact, keys sorted",
        lambda: _query(".V.v3"),
        '{"s1":"abc","s2":["x","y","z"]}',
    ),
    Vector(QUERY_GO, "an array result", lambda: _query(".V.v4"), '[{"t1":"10"},{"t1":"20"}]'),
    Vector(
        QUERY_GO,
        "a whole object variable: keys sorted at every level, HTML characters escaped",
        lambda: _query(".V", '{"z": {"b": 1, "a": [true, null]}, "y": "<&>"}'),
        '{"y":"\\u003c\\u0026\\u003e","z":{"a":[true,null],"b":1}}',
    ),
    Vector(
        QUERY_GO,
        "numbers as float64: integral without a point, big ones rounded, exponents Go's way",
        lambda: _query(
            ".V",
            '{"n": 1.0, "big": 12345678901234567890, "e": 1e21, '
            '"s": 0.00001, "t": 1e-7, "f": 2.50}',
        ),
        '{"big":12345678901234567000,"e":1e+21,"f":2.5,"n":1,"s":0.00001,"t":1e-7}',
    ),
    Vector(QUERY_GO, "null renders empty", lambda: _query(".V.a", '{"a": null}'), ""),
    Vector(
        QUERY_GO,
        "a filter compares what json.Marshal writes",
        lambda: _query(".V.p[n=1].v", '{"p": [{"n": 1.0, "v": "one"}]}'),
        "one",
    ),
    Vector(
        QUERY_GO,
        "a variable whose value is the text null",
        lambda: _render("{{{.V.v1}}}", {"V": V1, "N": "null"}),
        Refused(),  # decoding "null" panics in Kuscia's buildStructMap: every query fails
        ours="xyz",
        differs="null-text",
    ),
    Vector(
        QUERY_GO,
        "a filter value with a dot",
        lambda: _query(".V.l[k=a.b].v", '{"l": [{"k": "a.b", "v": "x"}]}'),
        "",  # Kuscia turns '.' inside brackets into '#' before it filters
        ours="x",
        differs="query-extensions",
    ),
    Vector(
        QUERY_GO,
        "two index steps in a row",
        lambda: _query(".V.m[0][1]", '{"m": [["a", "b"]]}'),
        "",
        ours="b",
        differs="query-extensions",
    ),
    Vector(
        QUERY_GO,
        "an object key read from another query",
        lambda: _query(".V.o[.V.k]", '{"k": "b", "o": {"b": "x"}}'),
        "",
        ours="x",
        differs="query-extensions",
    ),
    Vector(
        QUERY_GO,
        "spaces inside the braces",
        lambda: _render("{{{ .V.v1 }}}", {"V": V1}),
        Refused(),  # left to Go's text/template, which cannot parse '{{{ '
        ours="xyz",
        differs="query-extensions",
    ),
]


# --- {{.NAME}}: Kuscia writes strconv.Quote of the value without its outer quotes ---

QUOTE_GO = "config_render.go renderConfig"

PLAIN = [
    Vector(
        QUOTE_GO,
        "tab, newline, quotes, backslash, printable non-ASCII",
        lambda: _render("{{.V}}", {"V": 'a\tb\nc "q" \\ é end'}),
        'a\\tb\\nc \\"q\\" \\\\ é end',
    ),
    Vector(
        QUOTE_GO,
        "a value ending in a quote",
        lambda: _render("{{.V}}", {"V": 'say "hi"'}),
        'say \\"hi\\',  # strings.Trim takes the escaped quote too, leaving a backslash
        ours='say \\"hi\\"',
        differs="plain-escapes",
    ),
    Vector(
        QUOTE_GO,
        "control characters",
        lambda: _render("{{.V}}", {"V": "a\x01b\x07c"}),
        "a\\x01b\\ac",
        ours="a\\u0001b\\u0007c",
        differs="plain-escapes",
    ),
    Vector(
        QUOTE_GO,
        "a character Go does not print",
        lambda: _render("{{.V}}", {"V": "a\u2028b"}),
        "a\\u2028b",
        ours="a\u2028b",
        differs="plain-escapes",
    ),
]


# --- names: service_test.go, util_test.go, pending_handler_test.go -----------------------

SERVICE_GO = "service_test.go TestGenerateServiceName"

NAMES = [
    Vector(
        SERVICE_GO,
        "prefix-port is less than 63 characters",
        lambda: naming.service_name("service-test-11111111", "domain"),
        "service-test-11111111-domain",
    ),
    Vector(
        SERVICE_GO,
        "prefix-port is equal to 63 characters",
        lambda: naming.service_name(
            "abc-012345678-012345678-012345678-012345678-012345678-01", "domain"
        ),
        "abc-012345678-012345678-012345678-012345678-012345678-01-domain",
    ),
    Vector(
        SERVICE_GO,
        "prefix is greater than 63 characters",
        lambda: naming.service_name(
            "abc-012345678-012345678-012345678-012345678-012345678-012", "domain"
        ),
        "svc-abc-012345678-012345678-012345678-0-8b65e42a1eb3afbb-domain",
    ),
    Vector(
        SERVICE_GO,
        "prefix is digital",
        lambda: naming.service_name("123-456-789", "domain"),
        "svc-123-456-789-domain",
    ),
    Vector(
        SERVICE_GO,
        "prefix is digital and svc-prefix-port is 63 characters",
        lambda: naming.service_name(
            "12-012345678-012345678-012345678-012345678-012345678", "domain"
        ),
        "svc-12-012345678-012345678-012345678-012345678-012345678-domain",
    ),
    Vector(
        SERVICE_GO,
        "prefix is digital and svc-prefix-port is longer than 63",
        lambda: naming.service_name(
            "123-012345678-012345678-012345678-012345678-012345678", "domain"
        ),
        "svc-123-012345678-012345678-012345678-0-b8441b48f2ec6b30-domain",
    ),
    Vector(
        "service.go GenerateServiceName",
        "a cut prefix ending in '-' keeps it",
        lambda: naming.service_name(
            "secretflow-task-20240816114341-psi-horizontal-lr-server-0", "domain"
        ),
        "svc-secretflow-task-20240816114341-psi--bf6b2ddf57a35a80-domain",
    ),
    Vector(
        "pending_handler.go buildPortNumberEnvs",
        "the env var of a port's number",
        lambda: naming.port_number_env("inter-node"),
        "KUSCIA_PORT_INTER_NODE_NUMBER",
    ),
    Vector(
        "util_test.go TestGeneratePortServices",
        "serviced ports is not empty",
        lambda: {port: naming.service_name("dm-1", port) for port in ("domain", "cluster")},
        {"domain": "dm-1-domain", "cluster": "dm-1-cluster"},
    ),
]


# --- selection: appimages_test.go, and probes of SelectDeployTemplate -----------------------

SELECT_GO = "appimages_test.go Test_selectDeployTemplate"


def _select(roles: tuple[str, ...] | None, role: str) -> Any:
    templates = [
        {"name": "abc", "role": r, "spec": {"containers": [{"name": "main"}]}} for r in roles or ()
    ]
    try:
        return selection.select(make_app_image(deploy_templates=templates), role)[0]
    except BuildError as error:
        return Refused(error.reason)


DTS1 = ("server", "server,client", "")
DTS2 = ("server", "server,client,")

SELECT = [
    Vector(SELECT_GO, "dts1 server", lambda: _select(DTS1, "server"), 0),
    Vector(SELECT_GO, "dts1 client", lambda: _select(DTS1, "client"), 1),
    Vector(SELECT_GO, "dts1 empty role", lambda: _select(DTS1, ""), 2),
    Vector(SELECT_GO, "dts1 not-exist: the empty-role template", lambda: _select(DTS1, "x"), 2),
    Vector(SELECT_GO, "dts2 empty role: the first", lambda: _select(DTS2, ""), 0),
    Vector(
        SELECT_GO,
        "dts2 not-exist",
        lambda: _select(DTS2, "not-exist"),
        Refused(),
        ours=0,
        differs="role-fallback",
    ),
    Vector(SELECT_GO, "no templates", lambda: _select(None, "server"), Refused()),
    Vector(
        "appimage.go SelectDeployTemplate",
        "several empty-role templates",
        lambda: _select(("server", "", ""), "client"),
        2,
        ours=1,
        differs="empty-role-first",
    ),
    Vector(
        "appimage.go SelectDeployTemplate",
        "spaces around a role in the list",
        lambda: _select(("server, client", ""), "client"),
        1,
        ours=0,
        differs="role-spaces",
    ),
]


# --- the task: pending_handler_test.go, and probes of the handler --------------------------

HANDLER_GO = "pending_handler_test.go"
HANDLER = "pending_handler.go"
PORT_NAME, PORT_SCOPE = "kuscia.secretflow/port-name", "kuscia.secretflow/port-scope"
TASK_UID, TASK_ID = "kuscia.secretflow/task-uid", "kuscia.secretflow/task-id"
INITIATOR, PROTOCOL = "kuscia.secretflow/initiator", "kuscia.secretflow/protocol"
ACCESS_DOMAIN = "kuscia.secretflow/access-domain"


def _kuscia_container(**extra: Any) -> dict[str, Any]:
    """makeTestDeployTemplateCase1's container."""
    return {
        "name": "container-0",
        "command": ["ls"],
        "args": ["-l"],
        "env": [{"name": "HOME", "value": "/root"}],
        "ports": [
            _port("cluster", "Cluster", 10000),
            _port("domain", "Domain", 10001),
            _port("local", "Local", 10002),
        ],
        "configVolumeMounts": [
            {"mountPath": "/home/admin/conf/task-config.conf", "subPath": "task-config.conf"}
        ],
        "resources": {"limits": {"cpu": "2"}, "requests": {"cpu": "1"}},
        **extra,
    }


def _kuscia_image(config_templates: dict[str, str] | None) -> AppImage:
    """makeTestAppImageCase1, whose only deploy template is makeTestDeployTemplateCase1."""
    template = {
        "name": "abc",
        "role": "server,client",
        "replicas": 2,
        "spec": {"restartPolicy": "Always", "containers": [_kuscia_container()]},
    }
    return make_app_image(
        name="test-image-1",
        image={"name": "test-image", "tag": "0.0.1"},
        deploy_templates=[template],
        config_templates=config_templates,
    )


def _kuscia_party(domain: str, role: str, command: str) -> dict[str, Any]:
    """makeTestKusciaTaskCase1's parties."""
    container = {
        "name": "container-0",
        "command": [command],
        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}},
    }
    return party(domain, role, "test-image-1", template={"spec": {"containers": [container]}})


HANDLE_PARTIES = [
    _kuscia_party("domain-a", "server", "pwd"),
    _kuscia_party("domain-b", "client", "whoami"),
]
TEMPLATES = {"task-config.conf": "task_input_config: {{.TASK_INPUT_CONFIG}}"}


def _handle(config_templates: dict[str, str] | None = TEMPLATES) -> Any:
    return _plan(
        _kuscia_image(config_templates),
        HANDLE_PARTIES,
        name="kusciatask-001",
        task_input_config="task input config",
    )


def _has(kind: str, namespace: str, name: str) -> bool:
    return (namespace, name) in _names(_handle(), kind)


def _merged() -> dict[str, Any]:
    """Test_mergeDeployTemplate: makeTestDeployTemplateCase2 under makeTestPartyTemplateCase1."""
    container = _kuscia_container()
    del container["ports"], container["configVolumeMounts"]
    base = make_app_image(
        deploy_templates=[
            {
                "name": "abc",
                "role": "server,client",
                "replicas": 1,
                "spec": {"restartPolicy": "Always", "containers": [container]},
            }
        ]
    ).spec.deploy_templates[0]
    override = Party.model_validate(
        party(
            "domain-a",
            "server",
            template={
                "replicas": 2,
                "spec": {
                    "restartPolicy": "OnFailure",
                    "containers": [
                        {
                            "name": "container-0",
                            "command": [""],
                            "env": [{"name": "ROLE", "value": "server"}],
                            "resources": {"requests": {"cpu": "2"}},
                        }
                    ],
                },
            },
        )
    )
    merged = selection.merge(base, override)
    c = merged.spec.containers[0]
    assert merged.spec.restart_policy is not None
    assert c.resources is not None
    return {
        "replicas": merged.replicas,
        "restartPolicy": merged.spec.restart_policy.value,
        "name": c.name,
        "command": c.command,
        "args": c.args,
        "env": [(e.name, e.value) for e in c.env],
        "resources": {"limits": c.resources.limits, "requests": c.resources.requests},
    }


def _extra_party_container() -> Any:
    extra = [{"name": "container-0"}, {"name": "sidecar", "command": ["sh"]}]
    image = _image([{"name": "container-0"}])
    result = _plan(image, [party("alice", template={"spec": {"containers": extra}})])
    if isinstance(result, Refused):
        return result
    return [c["name"] for c in objects_of("Pod", result.objects)[0]["spec"]["containers"]]


ACCESS_PARTIES = [
    party("domain-a", "server"),
    party("domain-b", "client"),
    party("domain-c", "client"),
]
ACCESS_PORTS = [_port("port-10000", "Cluster", 10000), _port("port-10001", "Domain", 10001)]
CLIENT_INGRESS = {
    "from": {"roles": ["client"]},
    "ports": [{"port": "port-10000"}, {"port": "port-10001"}],
}
PORT_10002_INGRESS = {"from": {"roles": ["client", "server"]}, "ports": [{"port": "port-10002"}]}


def _access_image(ingresses: list[dict[str, Any]] | None) -> AppImage:
    template: dict[str, Any] = {
        "name": "abc",
        "role": "server,client",
        "spec": {"containers": [{"name": "main", "ports": ACCESS_PORTS}]},
    }
    if ingresses is not None:
        template["networkPolicy"] = {"ingresses": ingresses}
    return make_app_image(deploy_templates=[template])


def _access_domains(ingresses: list[dict[str, Any]] | None) -> Any:
    image = _access_image(ingresses)
    problems = check(image).problems
    if problems:
        return Refused(problems[0].reason)
    ports = [ContainerPort.model_validate(p) for p in ACCESS_PORTS]
    roles = [(p["domainID"], p["role"]) for p in ACCESS_PARTIES]
    found = ingress_domains(roles, image.spec.deploy_templates[0], ports)
    return {port: sorted(domains) for port, domains in found.items()}


def _domain_port_access() -> Any:
    result = _plan(_access_image([CLIENT_INGRESS]), ACCESS_PARTIES)
    services = objects_of("Service", result.objects)
    service = next(
        s
        for s in services
        if s["metadata"]["namespace"] == "domain-a"
        and s["metadata"]["labels"]["kuscia.secretflow/port-name"] == "port-10001"
    )
    return sorted(service["metadata"]["annotations"]["kuscia.secretflow/access-domain"].split(","))


def _kuscia_pod() -> dict[str, Any]:
    """The fields of Test_generatePod's wanted pod that this project writes too."""
    result = _plan(
        _kuscia_image(TEMPLATES),
        [party("domain-a", "server", "test-image-1"), party("domain-b", "client", "test-image-1")],
        name="kusciatask-001",
    )
    pod = next(
        p for p in objects_of("Pod", result.objects) if p["metadata"]["name"].endswith("server-0")
    )
    meta, spec = pod["metadata"], pod["spec"]
    container = dict(spec["containers"][0])
    container["env"] = [e for e in container["env"] if not e["name"].startswith("KUSCIA_PORT_")]
    return {
        "name": meta["name"],
        "namespace": meta["namespace"],
        "labels": {
            k: meta["labels"][k]
            for k in ("kuscia.secretflow/controller", "kuscia.secretflow/pod-role")
        },
        "annotations": {
            k: meta["annotations"][k]
            for k in ("kuscia.secretflow/initiator", "kuscia.secretflow/task-id")
        },
        "restartPolicy": spec["restartPolicy"],
        "automountServiceAccountToken": spec["automountServiceAccountToken"],
        "container": container,
        "volume": spec["volumes"][0]["name"],
    }


def _kuscia_pod_only_fields() -> Any:
    result = _plan(
        _kuscia_image(TEMPLATES),
        [party("domain-a", "server", "test-image-1")],
        name="kusciatask-001",
    )
    spec = objects_of("Pod", result.objects)[0]["spec"]
    return {key: spec.get(key) for key in ("schedulerName", "nodeSelector", "tolerations")}


def _config_map_volume() -> Any:
    result = _plan(
        _kuscia_image(TEMPLATES),
        [party("domain-a", "server", "test-image-1")],
        name="kusciatask-001",
    )
    return objects_of("Pod", result.objects)[0]["spec"]["volumes"][0]["configMap"]["name"]


def _cluster_service() -> dict[str, Any]:
    """The fields of generateServices' Service that this project writes too."""
    service = next(
        s
        for s in objects_of("Service", _handle().objects)
        if s["metadata"]["name"] == "kusciatask-001-server-0-cluster"
    )
    meta, spec = service["metadata"], service["spec"]
    return {
        "labels": {k: meta["labels"][k] for k in (PORT_NAME, PORT_SCOPE, TASK_UID)},
        "annotations": {
            **{k: meta["annotations"][k] for k in (INITIATOR, PROTOCOL, TASK_ID)},
            ACCESS_DOMAIN: sorted(meta["annotations"][ACCESS_DOMAIN].split(",")),
        },
        "spec": spec,
    }


def _kuscia_service_only_fields() -> dict[str, Any]:
    service = next(
        s
        for s in objects_of("Service", _handle().objects)
        if s["metadata"]["name"] == "kusciatask-001-server-0-cluster"
    )
    return {
        "ownerReferences": service["metadata"].get("ownerReferences"),
        "loadbalancer": service["metadata"]["labels"].get("kuscia.secretflow/loadbalancer"),
    }


TASK = [
    Vector(
        f"{HANDLER_GO} TestPendingHandler_Handle",
        "its AppImage mounts task-config.conf but has no configTemplates",
        lambda: _names(_handle(None), "Pod"),
        [
            ("domain-a", "kusciatask-001-server-0"),
            ("domain-a", "kusciatask-001-server-1"),
            ("domain-b", "kusciatask-001-client-0"),
            ("domain-b", "kusciatask-001-client-1"),
        ],
        ours=Refused("ConfigTemplateNotFound"),
        differs="subpath-not-in-templates",
    ),
    *(
        Vector(
            f"{HANDLER_GO} TestPendingHandler_Handle",
            f"{kind} {namespace}/{name} (with the template the mount names)",
            partial(_has, kind, namespace, name),
            True,
        )
        for kind, namespace, name in (
            ("Pod", "domain-a", "kusciatask-001-server-0"),
            ("Pod", "domain-a", "kusciatask-001-server-1"),
            ("Pod", "domain-b", "kusciatask-001-client-0"),
            ("Pod", "domain-b", "kusciatask-001-client-1"),
            ("Service", "domain-a", "kusciatask-001-server-0-cluster"),
            ("Service", "domain-b", "kusciatask-001-client-0-cluster"),
        )
    ),
    Vector(
        f"{HANDLER} generateServices",
        "the headless Service of a Cluster port",
        _cluster_service,
        {
            "labels": {PORT_NAME: "cluster", PORT_SCOPE: "Cluster", TASK_UID: TASK_UID_VALUE},
            "annotations": {
                INITIATOR: "domain-a",
                PROTOCOL: "HTTP",
                TASK_ID: "kusciatask-001",
                ACCESS_DOMAIN: ["domain-a", "domain-b"],
            },
            "spec": {
                "type": "ClusterIP",
                "clusterIP": "None",
                "publishNotReadyAddresses": True,
                "selector": {"kuscia.secretflow/pod-identity": f"{TASK_UID_VALUE}-server-0"},
                "ports": [
                    {"name": "cluster", "port": 10000, "protocol": "TCP", "targetPort": "cluster"}
                ],
            },
        },
    ),
    Vector(
        f"{HANDLER} generateServices",
        "the Service's owner and the label of Kuscia's gateway",
        _kuscia_service_only_fields,
        {
            "ownerReferences": "the Pod, as its controller",
            "loadbalancer": "domainroute",
        },
        ours={"ownerReferences": None, "loadbalancer": None},
        differs="kuscia-runtime-fields",
    ),
    Vector(
        f"{HANDLER_GO} TestPendingHandler_Handle",
        "a party names an AppImage that does not exist",
        lambda: _plan(
            _kuscia_image(TEMPLATES),
            [{**HANDLE_PARTIES[0], "appImageRef": "not-exist-image"}, HANDLE_PARTIES[1]],
            name="kusciatask-001",
        ),
        Refused(),  # Kuscia: an error and ResourceCreated=False; here the task waits for it
    ),
    Vector(
        f"{HANDLER_GO} Test_mergeDeployTemplate",
        "the party template over the deploy template",
        _merged,
        {
            "replicas": 2,
            "restartPolicy": "OnFailure",
            "name": "container-0",
            "command": [""],
            "args": None,
            "env": [("HOME", "/root"), ("ROLE", "server")],
            "resources": {"limits": {"cpu": "2"}, "requests": {"cpu": "2"}},
        },
    ),
    Vector(
        f"{HANDLER} mergeDeployTemplate",
        "a party template with more containers than the deploy template",
        _extra_party_container,
        ["container-0"],  # the extra one is dropped (here with a Warning Event, see selection)
    ),
    Vector(
        f"{HANDLER_GO} Test_generatePortAccessDomains",
        "as given: an ingress names port-10002, which no container has",
        lambda: _access_domains([CLIENT_INGRESS, PORT_10002_INGRESS]),
        {
            "port-10000": ["domain-b", "domain-c"],
            "port-10001": ["domain-b", "domain-c"],
            "port-10002": ["domain-a", "domain-b", "domain-c"],
        },
        ours=Refused("InvalidNetworkPolicy"),
        differs="network-policy-unknown-port",
    ),
    Vector(
        f"{HANDLER_GO} Test_generatePortAccessDomains",
        "the Cluster port under the client ingress",
        lambda: _access_domains([CLIENT_INGRESS])["port-10000"],
        ["domain-b", "domain-c"],
    ),
    Vector(
        f"{HANDLER_GO} Test_generatePortAccessDomains",
        "the Domain port under the client ingress",
        _domain_port_access,
        ["domain-b", "domain-c"],
        ours=["domain-a"],
        differs="domain-access",
    ),
    Vector(
        f"{HANDLER_GO} Test_generatePortAccessDomains",
        "no network policy: every party reaches the Cluster ports",
        lambda: _access_domains(None),
        {"port-10000": ["domain-a", "domain-b", "domain-c"]},
    ),
    Vector(
        f"{HANDLER_GO} Test_generatePod",
        "as given: configTemplates has task-config.config, the mount names task-config.conf",
        lambda: _names(
            _plan(
                _kuscia_image({"task-config.config": TEMPLATES["task-config.conf"]}),
                [party("domain-a", "server", "test-image-1")],
                name="kusciatask-001",
            ),
            "Pod",
        ),
        [("domain-a", "kusciatask-001-server-0"), ("domain-a", "kusciatask-001-server-1")],
        ours=Refused("ConfigTemplateNotFound"),
        differs="subpath-not-in-templates",
    ),
    Vector(
        f"{HANDLER_GO} Test_generatePod",
        "the pod's names, container, ports, mounts and policies",
        _kuscia_pod,
        {
            "name": "kusciatask-001-server-0",
            "namespace": "domain-a",
            "labels": {
                "kuscia.secretflow/controller": "kusciatask",
                "kuscia.secretflow/pod-role": "server",
            },
            "annotations": {
                "kuscia.secretflow/initiator": "domain-a",
                "kuscia.secretflow/task-id": "kusciatask-001",
            },
            "restartPolicy": "Always",
            "automountServiceAccountToken": False,
            "container": {
                "name": "container-0",
                "image": "test-image:0.0.1",
                "command": ["ls"],
                "args": ["-l"],
                "env": [{"name": "HOME", "value": "/root"}],
                "ports": [
                    {"name": "cluster", "containerPort": 10000, "protocol": "TCP"},
                    {"name": "domain", "containerPort": 10001, "protocol": "TCP"},
                    {"name": "local", "containerPort": 10002, "protocol": "TCP"},
                ],
                "resources": {"limits": {"cpu": "2"}, "requests": {"cpu": "1"}},
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "imagePullPolicy": "IfNotPresent",
                "volumeMounts": [
                    {
                        "name": "config-template",
                        "mountPath": "/home/admin/conf/task-config.conf",
                        "subPath": "task-config.conf",
                    }
                ],
            },
            "volume": "config-template",
        },
    ),
    Vector(
        f"{HANDLER_GO} Test_generatePod",
        "the fields of Kuscia's scheduler and node agent",
        _kuscia_pod_only_fields,
        {
            "schedulerName": "kuscia-scheduler",
            "nodeSelector": {"kuscia.secretflow/namespace": "domain-a"},
            "tolerations": [
                {"effect": "NoSchedule", "key": "kuscia.secretflow/agent", "operator": "Exists"}
            ],
        },
        ours={"schedulerName": None, "nodeSelector": None, "tolerations": None},
        differs="kuscia-runtime-fields",
    ),
    Vector(
        f"{HANDLER_GO} Test_generatePod",
        "the ConfigMap the config volume mounts",
        _config_map_volume,
        "kusciatask-001-configtemplate",
        ours="kusciatask-001-server-0-config",
        differs="config-maps",
    ),
]


# --- cluster define and ports: util_test.go, and probes of the handler ---------------------

DEPLOY_GO = "util_test.go"


def _cluster_define(
    ports: list[dict[str, Any]],
    parties: list[dict[str, Any]],
    *,
    replicas: int = 1,
    name: str = "t1",
    **task: Any,
) -> Any:
    container = {
        "name": "main",
        "ports": ports,
        "configVolumeMounts": [{"mountPath": "/etc/c.json", "subPath": "task-config.conf"}],
    }
    image = _image(
        [container],
        replicas=replicas,
        config_templates={"task-config.conf": "{{{.TASK_CLUSTER_DEFINE}}}|{{{.ALLOCATED_PORTS}}}"},
    )
    result = _plan(image, parties, name=name, **task)
    if isinstance(result, Refused):
        return result
    first = result.parties[0].pods[0]
    define, allocated = _config(result, first).split("|")
    return json.loads(define), json.loads(allocated)


DEPLOY_PORTS = [_port("domain", "Domain", 8080), _port("cluster", "Cluster", 8081)]


def _endpoints(port: str) -> Any:
    define, _ = _cluster_define(DEPLOY_PORTS, [party("alice")], replicas=2, name="deploy")
    services = {s["portName"]: s["endpoints"] for s in define["parties"][0]["services"]}
    return services[port][1]  # the second pod, "deploy-1", as Kuscia names the deployment


def _allocated_counts() -> list[int]:
    images = {
        name: _image([{"name": "main", "ports": ports}], name=name)
        for name, ports in (
            ("alice-img", [_port("domain", "Domain", 8080)]),
            ("bob-img", [_port("domain", "Domain", 9080), _port("cluster", "Cluster", 9081)]),
            ("carol-img", []),
        )
    }
    parties = [party(d, app_image_ref=f"{d}-img") for d in ("alice", "bob", "carol")]
    result = _plan(images, parties)
    return [len(entry.named_port) for entry in result.allocated_ports]


def _served(ports: list[dict[str, Any]]) -> Any:
    result = _plan(_image([{"name": "main", "ports": ports}]), [party("alice")])
    return sorted(
        s["metadata"]["labels"]["kuscia.secretflow/port-name"]
        for s in objects_of("Service", result.objects)
    )


def _protocol_tcp() -> Any:
    _, allocated = _cluster_define(
        [_port("raw", "Cluster", 9000, protocol="TCP")], [party("alice")]
    )
    return allocated["ports"][0]["protocol"]


DEFINE = [
    Vector(
        f"{DEPLOY_GO} TestGenerateClusterDefineParty",
        "serviced ports is empty",
        lambda: _cluster_define([], [party("alice", "client")])[0]["parties"][0],
        {"name": "alice", "role": "client", "services": []},
    ),
    Vector(
        f"{DEPLOY_GO} TestGenerateClusterDefineParty",
        "a Domain port's endpoint",
        lambda: _endpoints("domain"),
        "deploy-1-domain.alice.svc:8080",
    ),
    Vector(
        f"{DEPLOY_GO} TestGenerateClusterDefineParty",
        "a Cluster port's endpoint",
        lambda: _endpoints("cluster"),
        "deploy-1-cluster.alice.svc",
        ours="deploy-1-cluster.alice.svc:8081",
        differs="cluster-endpoint-port",
    ),
    Vector(
        f"{HANDLER} generateParties",
        "parties in the order of spec.parties",
        lambda: [
            p["name"] for p in _cluster_define([], [party("bob"), party("alice")])[0]["parties"]
        ],
        "map order: varies from run to run",
        ours=["bob", "alice"],
        differs="order",
    ),
    Vector(
        f"{DEPLOY_GO} TestFillClusterDefine",
        "parties is empty",
        lambda: json.loads(
            cluster_define.task_cluster_define(cluster_define.encode_parties([]), 0, 0)
        ),
        {"parties": [], "selfPartyIdx": 0, "selfEndpointIdx": 0},
    ),
    Vector(
        f"{DEPLOY_GO} TestFillAllocatedPorts",
        "ports is empty",
        lambda: json.loads(cluster_define.allocated_ports_json([], {})),
        {"ports": []},
    ),
    Vector(
        f"{DEPLOY_GO} TestFillAllocatedPorts",
        "ports is not empty: the recorded number wins over the fixed one",
        lambda: _cluster_define(
            [_port("domain", "Domain", 8080)],
            [party("alice")],
            status={
                "allocatedPorts": [
                    {"domainID": "alice", "role": "", "namedPort": {"t1-0/domain": 10000}}
                ]
            },
        )[1],
        {"ports": [{"name": "domain", "port": 10000, "scope": "Domain", "protocol": "HTTP"}]},
    ),
    Vector(
        f"{DEPLOY_GO} TestAllocatePorts",
        "a number for every port of every party",
        _allocated_counts,
        [1, 2, 0],
    ),
    Vector(
        f"{HANDLER} allocatePorts",
        "a fixed port with nothing recorded",
        lambda: _cluster_define([_port("domain", "Domain", 8080)], [party("alice")])[1]["ports"][0][
            "port"
        ],
        "a number from Kuscia's port pool, not 8080",
        ours=8080,
        differs="fixed-ports",
    ),
    Vector(
        "crds/v1alpha1/kuscia.secretflow_appimages.yaml",
        "protocol TCP",
        _protocol_tcp,
        Refused(),  # the CRD's enum is HTTP, GRPC
        ours="TCP",
        differs="tcp",
    ),
    Vector(
        f"{DEPLOY_GO} TestMergeContainersPorts",
        "container ports with repeated port info",
        lambda: _plan(
            _image(
                [
                    {
                        "name": "main",
                        "ports": [_port("domain", "Domain", 8080), _port("domain", "Domain", 8080)],
                    }
                ]
            ),
            [party("alice")],
        ),
        Refused(),
    ),
    Vector(
        f"{DEPLOY_GO} TestGenerateServicedPorts", "named ports are empty", lambda: _served([]), []
    ),
    Vector(
        f"{DEPLOY_GO} TestGenerateServicedPorts",
        "named ports with local port",
        lambda: _served([_port("local", "Local", 8000)]),
        [],
    ),
    Vector(
        f"{DEPLOY_GO} TestGenerateServicedPorts",
        "named ports with domain port",
        lambda: _served([_port("domain", "Domain", 8000)]),
        ["domain"],
    ),
    Vector(
        f"{DEPLOY_GO} TestGenerateServicedPorts",
        "named ports with cluster port",
        lambda: _served([_port("cluster", "Cluster", 8000)]),
        ["cluster"],
    ),
    Vector(
        f"{DEPLOY_GO} TestGenerateServicedPorts",
        "named ports with local, domain and cluster port",
        lambda: _served(
            [
                _port("local", "Local", 8000),
                _port("domain", "Domain", 8001),
                _port("cluster", "Cluster", 8002),
            ]
        ),
        ["cluster", "domain"],
    ),
    Vector(
        f"{DEPLOY_GO} TestGenerateConfigMapName",
        "the ConfigMap of a task's config files",
        lambda: _names(
            _plan(_env_image({}, "x"), [party("alice")], name="cm-1"),
            "ConfigMap",
        ),
        [("alice", "cm-1-configtemplate")],
        ours=[("alice", "cm-1-0-config")],
        differs="config-maps",
    ),
]

VECTORS = [*RENDER, *QUERY, *PLAIN, *NAMES, *SELECT, *TASK, *DEFINE]


@pytest.mark.parametrize("vector", VECTORS, ids=[v.id for v in VECTORS])
def test_kuscia_vector(vector: Vector) -> None:
    got = vector.run()
    if not vector.differs:
        assert vector.ours is SAME
        assert _agrees(got, vector.kuscia), f"Kuscia gives {vector.kuscia!r}"
        return
    assert _agrees(got, vector.ours)
    assert not _agrees(vector.ours, vector.kuscia), "a row that differs must differ"


def _readme_differences() -> dict[str, str]:
    """README's difference table: the key in its first column -> the rest of the row."""
    text = README.read_text()
    table = text.split("## Where this project differs from Kuscia, and why", 1)[1].split(
        "\n## ", 1
    )[0]
    rows = re.findall(r"^\| `([a-z0-9-]+)` \|(.*)\|$", table, flags=re.MULTILINE)
    return dict(rows)


def test_every_difference_has_a_readme_row_and_every_readme_row_a_vector() -> None:
    documented = _readme_differences()
    used = {v.differs for v in VECTORS if v.differs}
    assert used - documented.keys() == set()
    assert documented.keys() - used == set()


def test_the_readme_counts_the_vectors() -> None:
    differing = sum(1 for v in VECTORS if v.differs)
    text = " ".join(README.read_text().split())
    assert f"as {len(VECTORS)} vectors" in text
    assert f"{len(VECTORS) - differing} give Kuscia's answer, {differing} differ" in text


def test_the_vectors_come_from_kuscias_tests_and_the_code_they_test() -> None:
    for vector in VECTORS:
        assert re.fullmatch(r"[\w/.-]+\.(go|yaml)( \w+)?", vector.source), vector.source
    assert len(VECTORS) == len({(v.source, v.name) for v in VECTORS})


def test_the_yaml_vector_parses_back_to_the_cluster_define() -> None:
    """TestConfigFormat's own check: the rendered YAML holds the define as a string."""
    rendered = _render(
        'task_cluster_define: "{{.TASK_CLUSTER_DEFINE}}"', {"TASK_CLUSTER_DEFINE": MAP_DEFINE}
    )
    assert json.loads(yaml.safe_load(rendered)["task_cluster_define"]) == json.loads(MAP_DEFINE)
