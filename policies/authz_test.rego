package zonegate.authz_test

# Table-driven tests of data.zonegate.authz.decision. Each case patches (object.union)
# and/or removes (json.remove) fields of a base input: a doctor on a trusted workstation
# in the hospital network reading a patient record, Wednesday 11:00 in Shanghai.
# A failing case is printed with the decision it got.

import data.zonegate.authz

base := {
	"request": {
		"id": "req-1", "method": "GET", "path": "/zones/health/records/7",
		"host": "gw.city.example", "query": {}, "time": "2026-11-25T03:00:00Z",
		"headers": {},
	},
	"subject": {
		"authenticated": true, "type": "user", "id": "dr-li", "issuer": "https://idp.city.example",
		"roles": ["doctor"], "groups": ["health-dept"], "clearance": "L4", "acr": "mfa",
		"amr": ["pwd", "otp"], "auth_time": 1795575000, "spiffe_id": "",
	},
	"device": {
		"id": "ws-17", "cert_fingerprint": "sha256:ab", "trust": "trusted",
		"posture": {"class": "medical-workstation"},
	},
	"source": {"ip": "10.1.0.17", "zone": "hospital-net"},
	"resource": {"zone": "health", "level": "L4", "path": "/records/7"},
	"context": {"risk": 10},
}

_input(tc) := object.union(json.remove(base, object.get(tc, "remove", [])), object.get(tc, "patch", {}))

_decide(tc) := d if {
	doc := _input(tc)
	d := authz.decision with input as doc
}

_ok(tc) if {
	d := _decide(tc)
	d.allow == tc.allow
	d.reasons == tc.reasons
	every key, want in object.get(tc, "obligations", {}) {
		d.obligations[key] == want
	}
}

_passes(cases) if {
	failures := {tc.note | some tc in cases; not _ok(tc)}
	every note in failures {
		print("case failed:", note, "decision:", [d | some tc in cases; tc.note == note; d := _decide(tc)])
	}
	count(failures) == 0
}

_engineer := {
	"request": {"path": "/zones/transport/sensors/42"},
	"subject": {"roles": ["traffic-engineer"], "groups": [], "clearance": "L2"},
	"source": {"zone": "city-net"},
	"resource": {"zone": "transport", "level": "L2", "path": "/sensors/42"},
}

_registrar := {
	"request": {"path": "/zones/citizen/people/110101"},
	"subject": {"roles": ["registrar"], "groups": [], "clearance": "L5"},
	"source": {"zone": "gov-net"},
	"resource": {"zone": "citizen", "level": "L5", "path": "/people/110101"},
}

_open := {
	"request": {"path": "/zones/open/datasets/bus-stops"},
	"subject": {"roles": [], "groups": [], "clearance": "L1"},
	"device": {"trust": "unknown", "posture": {}},
	"source": {"zone": "internet"},
	"resource": {"zone": "open", "level": "L1", "path": "/datasets/bus-stops"},
	"context": {"risk": 60},
}

authentication_cases := [
	{"note": "doctor reads a record", "allow": true, "reasons": [],
	 "obligations": {"max_level": "L4", "step_up": false, "audit": false}},
	{"note": "anonymous", "patch": {"subject": {"authenticated": false}},
	 "allow": false, "reasons": ["unauthenticated"]},
	{"note": "authenticated as a string", "patch": {"subject": {"authenticated": "true"}},
	 "allow": false, "reasons": ["unauthenticated"]},
	{"note": "subject missing", "remove": ["subject"], "allow": false, "reasons": ["unauthenticated"]},
	{"note": "anonymous on open data", "patch": object.union(_open, {"subject": {"authenticated": false}}),
	 "allow": false, "reasons": ["unauthenticated"]},
]

test_authentication if _passes(authentication_cases)

microsegmentation_cases := [
	{"note": "nurse reads", "patch": {"subject": {"roles": ["nurse"]}}, "allow": true, "reasons": []},
	{"note": "nurse writes", "patch": {"request": {"method": "PUT"}, "subject": {"roles": ["nurse"]}},
	 "allow": false, "reasons": ["method-not-permitted"]},
	{"note": "doctor writes", "patch": {"request": {"method": "POST"}}, "allow": true, "reasons": []},
	{"note": "doctor deletes", "patch": {"request": {"method": "DELETE"}},
	 "allow": false, "reasons": ["method-not-permitted"]},
	{"note": "lower-case method", "patch": {"request": {"method": "get"}},
	 "allow": false, "reasons": ["method-not-permitted"]},
	{"note": "engineer in health", "patch": {"subject": {"roles": ["traffic-engineer"]}},
	 "allow": false, "reasons": ["zone-not-permitted"]},
	{"note": "doctor from the city network", "patch": {"source": {"zone": "city-net"}},
	 "allow": false, "reasons": ["zone-not-permitted"]},
	{"note": "source zone missing", "remove": ["source/zone"], "allow": false, "reasons": ["zone-not-permitted"]},
	{"note": "engineer reads a sensor", "patch": _engineer, "allow": true, "reasons": [],
	 "obligations": {"max_level": "L2"}},
	{"note": "transport group reads", "patch": object.union(_engineer, {"subject": {"roles": [], "groups": ["transport-dept"]}}),
	 "allow": true, "reasons": []},
	{"note": "transport group writes", "patch": object.union(_engineer, {"request": {"method": "POST"}, "subject": {"roles": [], "groups": ["transport-dept"]}}),
	 "allow": false, "reasons": ["method-not-permitted"]},
	{"note": "sensor posts a reading", "patch": object.union(_engineer, {
		"request": {"method": "POST"}, "source": {"zone": "iot-net"},
		"subject": {"type": "device", "roles": [], "clearance": "L1"},
		"device": {"posture": {"class": "traffic-sensor"}}}),
	 "allow": true, "reasons": [], "obligations": {"max_level": "L2"}},
	{"note": "sensor reads", "patch": object.union(_engineer, {
		"source": {"zone": "iot-net"}, "subject": {"type": "device", "roles": [], "clearance": "L1"},
		"device": {"posture": {"class": "traffic-sensor"}}}),
	 "allow": false, "reasons": ["method-not-permitted"]},
	{"note": "a user claiming a sensor class", "patch": object.union(_engineer, {
		"request": {"method": "POST"}, "subject": {"roles": [], "clearance": "L1"},
		"device": {"posture": {"class": "traffic-sensor"}}}),
	 "allow": false, "reasons": ["zone-not-permitted"]},
	{"note": "records-sync service", "patch": {"subject": {
		"type": "service", "roles": [], "groups": [], "clearance": "L1",
		"spiffe_id": "spiffe://city.example/zone/health/svc/records-sync"}},
	 "allow": true, "reasons": [], "obligations": {"max_level": "L4"}},
	{"note": "a user carrying the service's SPIFFE ID", "patch": {"subject": {
		"roles": [], "groups": [], "spiffe_id": "spiffe://city.example/zone/health/svc/records-sync"}},
	 "allow": false, "reasons": ["zone-not-permitted"]},
	{"note": "anyone authenticated on open data", "patch": _open, "allow": true, "reasons": [],
	 "obligations": {"max_level": "L1"}},
	{"note": "writing open data", "patch": object.union(_open, {"request": {"method": "POST"}}),
	 "allow": false, "reasons": ["method-not-permitted"]},
	{"note": "unknown zone", "patch": {"request": {"path": "/zones/sewer/x"}, "resource": {"zone": "sewer", "path": "/x"}},
	 "allow": false, "reasons": ["zone-not-permitted"]},
]

test_microsegmentation if _passes(microsegmentation_cases)

bypass_cases := [
	{"note": "zone name prefix /zones/healthx", "patch": {"request": {"path": "/zones/healthx/records/7"}},
	 "allow": false, "reasons": ["zone-not-permitted"]},
	{"note": "resource says healthx", "patch": {"request": {"path": "/zones/healthx/records/7"}, "resource": {"zone": "healthx"}},
	 "allow": false, "reasons": ["zone-not-permitted"]},
	{"note": "dot-dot into transport", "patch": {"request": {"path": "/zones/health/../transport/sensors"}, "resource": {"path": "/../transport/sensors"}},
	 "allow": false, "reasons": ["path-not-canonical"]},
	{"note": "single dot segment", "patch": {"request": {"path": "/zones/health/./records/7"}, "resource": {"path": "/./records/7"}},
	 "allow": false, "reasons": ["path-not-canonical"]},
	{"note": "trailing dot-dot", "patch": {"request": {"path": "/zones/health/records/.."}, "resource": {"path": "/records/.."}},
	 "allow": false, "reasons": ["path-not-canonical"]},
	{"note": "encoded slash", "patch": {"request": {"path": "/zones/health%2F..%2Ftransport/x"}},
	 "allow": false, "reasons": ["path-not-canonical"]},
	{"note": "encoded slash inside the zone", "patch": {"request": {"path": "/zones/health/records%2F7"}, "resource": {"path": "/records%2F7"}},
	 "allow": false, "reasons": ["path-not-canonical"]},
	{"note": "double slash", "patch": {"request": {"path": "/zones/health//records/7"}, "resource": {"path": "//records/7"}},
	 "allow": false, "reasons": ["path-not-canonical"]},
	{"note": "backslash", "patch": {"request": {"path": "/zones/health\\..\\transport"}, "resource": {"path": "\\..\\transport"}},
	 "allow": false, "reasons": ["path-not-canonical"]},
	{"note": "NUL byte", "patch": {"request": {"path": "/zones/health/records/7\u0000.json"}, "resource": {"path": "/records/7\u0000.json"}},
	 "allow": false, "reasons": ["path-not-canonical"]},
	{"note": "path of another zone", "patch": {"request": {"path": "/zones/open/datasets"}},
	 "allow": false, "reasons": ["zone-not-permitted"]},
	{"note": "relative path", "patch": {"request": {"path": "zones/health/records/7"}},
	 "allow": false, "reasons": ["path-not-canonical"]},
	{"note": "path missing", "remove": ["request/path"], "allow": false, "reasons": ["path-not-canonical"]},
	{"note": "resource path missing", "remove": ["resource/path"], "allow": false, "reasons": ["zone-not-permitted"]},
	{"note": "role in another case", "patch": {"subject": {"roles": ["Doctor"]}},
	 "allow": false, "reasons": ["zone-not-permitted"]},
	{"note": "role with a space", "patch": {"subject": {"roles": ["doctor "]}},
	 "allow": false, "reasons": ["zone-not-permitted"]},
	{"note": "roles as a string", "patch": {"subject": {"roles": "doctor"}},
	 "allow": false, "reasons": ["zone-not-permitted"]},
	{"note": "roles missing", "remove": ["subject/roles"], "allow": false, "reasons": ["zone-not-permitted"]},
	{"note": "resource zone missing", "remove": ["resource/zone"], "allow": false, "reasons": ["zone-not-permitted"]},
	{"note": "method missing", "remove": ["request/method"], "allow": false, "reasons": ["method-not-permitted"]},
	{"note": "zone name as a number", "patch": {"resource": {"zone": 7}}, "allow": false, "reasons": ["zone-not-permitted"]},
	{"note": "input is empty", "remove": ["request", "subject", "device", "source", "resource", "context"],
	 "allow": false, "reasons": ["unauthenticated"]},
]

test_bypass if _passes(bypass_cases)

clearance_cases := [
	{"note": "doctor with L3 clearance", "patch": {"subject": {"clearance": "L3"}},
	 "allow": false, "reasons": ["clearance-insufficient"]},
	{"note": "clearance missing", "remove": ["subject/clearance"], "allow": false, "reasons": ["clearance-insufficient"]},
	{"note": "clearance malformed", "patch": {"subject": {"clearance": "L9"}},
	 "allow": false, "reasons": ["clearance-insufficient"]},
	{"note": "clearance in lower case", "patch": {"subject": {"clearance": "l4"}},
	 "allow": false, "reasons": ["clearance-insufficient"]},
	{"note": "L6 clearance is capped at the zone level", "patch": {"subject": {"clearance": "L6"}},
	 "allow": true, "reasons": [], "obligations": {"max_level": "L4"}},
	{"note": "registrar reads the register", "patch": _registrar, "allow": true, "reasons": [],
	 "obligations": {"max_level": "L5", "audit": true}},
	{"note": "civil-affairs clerk with L3 gets a redacted view",
	 "patch": object.union(_registrar, {"subject": {"roles": [], "groups": ["civil-affairs"], "clearance": "L3"}}),
	 "allow": true, "reasons": ["clearance-redacted"], "obligations": {"max_level": "L3", "audit": true}},
	{"note": "redaction needs a valid clearance",
	 "patch": object.union(_registrar, {"subject": {"roles": [], "groups": ["civil-affairs"], "clearance": "secret"}}),
	 "allow": false, "reasons": ["clearance-insufficient"]},
]

test_clearance if _passes(clearance_cases)

device_cases := [
	{"note": "quarantined device", "patch": {"device": {"trust": "quarantined"}},
	 "allow": false, "reasons": ["device-quarantined"]},
	{"note": "quarantined device on open data", "patch": object.union(_open, {"device": {"trust": "quarantined"}}),
	 "allow": false, "reasons": ["device-quarantined"]},
	{"note": "unknown device in health", "patch": {"device": {"trust": "unknown"}},
	 "allow": false, "reasons": ["device-unmanaged"]},
	{"note": "device missing", "remove": ["device"], "allow": false, "reasons": ["device-unmanaged"]},
	{"note": "trust in another case", "patch": {"device": {"trust": "Trusted"}},
	 "allow": false, "reasons": ["device-unmanaged"]},
	{"note": "unknown device on open data", "patch": _open, "allow": true, "reasons": []},
]

test_device_trust if _passes(device_cases)

dynamic_cases := [
	{"note": "risk above threshold", "patch": {"context": {"risk": 41}},
	 "allow": false, "reasons": ["step-up-required"], "obligations": {"step_up": true}},
	{"note": "risk at threshold", "patch": {"context": {"risk": 40}}, "allow": true, "reasons": []},
	{"note": "risk missing counts as high", "remove": ["context"],
	 "allow": false, "reasons": ["step-up-required"], "obligations": {"step_up": true}},
	{"note": "risk as a string", "patch": {"context": {"risk": "0"}},
	 "allow": false, "reasons": ["step-up-required"]},
	{"note": "authenticated two hours ago", "patch": {"subject": {"auth_time": 1795568400}},
	 "allow": false, "reasons": ["reauthentication-required"]},
	{"note": "auth_time missing", "remove": ["subject/auth_time"],
	 "allow": false, "reasons": ["reauthentication-required"]},
	{"note": "request time missing", "remove": ["request/time"],
	 "allow": false, "reasons": ["request-time-invalid"]},
	{"note": "request time malformed", "patch": {"request": {"time": "yesterday"}},
	 "allow": false, "reasons": ["request-time-invalid"]},
	{"note": "open data needs no time", "patch": object.union(_open, {"request": {"time": "yesterday"}}),
	 "allow": true, "reasons": []},
	{"note": "register closed on Saturday",
	 "patch": object.union(_registrar, {"request": {"time": "2026-11-28T03:00:00Z"}, "subject": {"auth_time": 1795834500}}),
	 "allow": false, "reasons": ["outside-time-window"]},
	{"note": "register closed at 19:00 Shanghai",
	 "patch": object.union(_registrar, {"request": {"time": "2026-11-25T11:00:00Z"}, "subject": {"auth_time": 1795604300}}),
	 "allow": false, "reasons": ["outside-time-window"]},
	{"note": "register open at 08:00 Shanghai",
	 "patch": object.union(_registrar, {"request": {"time": "2026-11-25T00:00:00Z"}, "subject": {"auth_time": 1795564700}}),
	 "allow": true, "reasons": []},
]

test_dynamic_conditions if _passes(dynamic_cases)

_glass_role := {"subject": {"roles": ["break-glass"], "groups": [], "clearance": "L2"}}

_glass := object.union(_glass_role, {"request": {"headers": {"x-break-glass-reason": "ER patient 4711 unconscious"}}})

break_glass_cases := [
	{"note": "break-glass with a reason", "patch": _glass, "allow": true, "reasons": ["break-glass"],
	 "obligations": {"audit": true, "max_level": "L4",
	                 "headers": {"x-zonegate-break-glass": "ER patient 4711 unconscious"}}},
	{"note": "break-glass without a reason", "patch": _glass_role,
	 "allow": false, "reasons": ["break-glass-reason-required"]},
	{"note": "break-glass with a blank reason",
	 "patch": object.union(_glass, {"request": {"headers": {"x-break-glass-reason": "   "}}}),
	 "allow": false, "reasons": ["break-glass-reason-required"]},
	{"note": "break-glass writes", "patch": object.union(_glass, {"request": {"method": "PUT"}}),
	 "allow": false, "reasons": ["method-not-permitted"]},
	{"note": "break-glass cannot lift quarantine", "patch": object.union(_glass, {"device": {"trust": "quarantined"}}),
	 "allow": false, "reasons": ["device-quarantined"]},
	{"note": "break-glass cannot lift step-up", "patch": object.union(_glass, {"context": {"risk": 90}}),
	 "allow": false, "reasons": ["step-up-required"]},
	{"note": "break-glass not allowed in transport", "patch": object.union(_engineer, _glass),
	 "allow": false, "reasons": ["zone-not-permitted"]},
	{"note": "doctor with break-glass role but normal access is not audited",
	 "patch": {"subject": {"roles": ["doctor", "break-glass"]}}, "allow": true, "reasons": [],
	 "obligations": {"audit": false}},
	{"note": "break-glass role in another case", "patch": object.union(_glass, {"subject": {"roles": ["Break-Glass"]}}),
	 "allow": false, "reasons": ["zone-not-permitted"]},
]

test_break_glass if _passes(break_glass_cases)

test_decision_is_complete if {
	d := authz.decision with input as {}
	d.allow == false
	d.reasons == ["unauthenticated"]
	d.obligations == {"max_level": "L1", "step_up": false, "headers": {}, "audit": false}
}
