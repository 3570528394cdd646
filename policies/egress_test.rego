package zonegate.egress_test

# Table-driven tests of data.zonegate.egress.decision. Each case patches (object.union)
# and/or removes (json.remove) fields of a base input: camera cam-7, identified by its
# certificate, posting telemetry to its vendor over HTTPS. A failing case is printed with
# the decision it got. Bypass cases: host case, trailing dots, IP literal for a listed name,
# suffix tricks, other ports, Host header / SNI naming another host.

import data.zonegate.egress

base := {
	"request": {
		"id": "req-1", "method": "POST", "scheme": "https", "path": "/v1/events",
		"host_header": "telemetry.camvendor.example", "sni": "telemetry.camvendor.example",
		"time": "2026-11-25T03:00:00Z",
	},
	"subject": {
		"authenticated": true, "type": "device", "id": "cam-7",
		"spiffe_id": "spiffe://city.example/zone/transport/device/cam-7",
	},
	"device": {"id": "cam-7", "cert_fingerprint": "sha256:ab", "trust": "trusted", "posture": {}},
	"source": {"ip": "10.20.0.7"},
	"destination": {"host": "telemetry.camvendor.example", "port": 443},
}

_input(tc) := object.union(json.remove(base, object.get(tc, "remove", [])), object.get(tc, "patch", {}))

_decide(tc) := d if {
	doc := _input(tc)
	d := egress.decision with input as doc
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

_dest(host, port) := {
	"destination": {"host": host, "port": port},
	"request": {"host_header": "", "sni": ""},
}

destination_cases := [
	{"note": "camera posts telemetry", "allow": true, "reasons": [],
	 "obligations": {"max_level": "L2", "step_up": false, "headers": {}}},
	{"note": "camera fetches firmware", "patch": object.union(_dest("firmware.camvendor.example", 443), {"request": {"method": "GET"}}),
	 "allow": true, "reasons": []},
	{"note": "camera posts to firmware host", "patch": _dest("firmware.camvendor.example", 443),
	 "allow": false, "reasons": ["method-not-permitted"]},
	{"note": "camera to an unlisted host", "patch": _dest("paste.example", 443),
	 "allow": false, "reasons": ["destination-not-permitted"]},
	{"note": "telemetry on another port", "patch": _dest("telemetry.camvendor.example", 8443),
	 "allow": false, "reasons": ["port-not-permitted"]},
	{"note": "telemetry on port 80", "patch": _dest("telemetry.camvendor.example", 80),
	 "allow": false, "reasons": ["port-not-permitted"]},
	{"note": "lower-case method", "patch": {"request": {"method": "post"}},
	 "allow": false, "reasons": ["method-not-permitted"]},
	{"note": "no destination", "remove": ["destination"],
	 "allow": false, "reasons": ["destination-malformed"]},
	{"note": "port as a string", "patch": {"destination": {"port": "443"}},
	 "allow": false, "reasons": ["destination-malformed"]},
	{"note": "port zero", "patch": {"destination": {"port": 0}},
	 "allow": false, "reasons": ["destination-malformed"]},
	{"note": "port out of range", "patch": {"destination": {"port": 70000}},
	 "allow": false, "reasons": ["destination-malformed"]},
	{"note": "fractional port", "patch": {"destination": {"port": 443.5}},
	 "allow": false, "reasons": ["destination-malformed"]},
	{"note": "host with userinfo", "patch": _dest("telemetry.camvendor.example@evil.example", 443),
	 "allow": false, "reasons": ["destination-malformed"]},
	{"note": "method missing", "remove": ["request/method"],
	 "allow": false, "reasons": ["destination-malformed"]},
]

test_destinations if _passes(destination_cases)

bypass_cases := [
	{"note": "upper-case host", "patch": object.union(_dest("TELEMETRY.CamVendor.Example", 443), {}),
	 "allow": true, "reasons": []},
	{"note": "trailing dot", "patch": _dest("telemetry.camvendor.example.", 443),
	 "allow": true, "reasons": []},
	{"note": "trailing dot on the Host header", "patch": {"request": {"host_header": "Telemetry.camvendor.example."}},
	 "allow": true, "reasons": []},
	{"note": "suffix of a listed name", "patch": _dest("evil-telemetry.camvendor.example", 443),
	 "allow": false, "reasons": ["destination-not-permitted"]},
	{"note": "listed name as a prefix", "patch": _dest("telemetry.camvendor.example.evil.example", 443),
	 "allow": false, "reasons": ["destination-not-permitted"]},
	{"note": "subdomain of a listed exact name", "patch": _dest("x.telemetry.camvendor.example", 443),
	 "allow": false, "reasons": ["destination-not-permitted"]},
	{"note": "IP literal instead of the listed name", "patch": _dest("203.0.113.10", 443),
	 "allow": false, "reasons": ["destination-not-permitted"]},
	{"note": "IPv6 literal", "patch": _dest("2001:db8::10", 443),
	 "allow": false, "reasons": ["destination-not-permitted"]},
	{"note": "integer IPv4 spelling", "patch": _dest("3405803786", 443),
	 "allow": false, "reasons": ["destination-not-permitted"]},
	{"note": "Host header names another host", "patch": {"request": {"host_header": "evil.example"}},
	 "allow": false, "reasons": ["host-mismatch"]},
	{"note": "SNI names another host", "patch": {"request": {"sni": "evil.example"}},
	 "allow": false, "reasons": ["host-mismatch"]},
	{"note": "allowed host, both names elsewhere", "patch": {"request": {"sni": "evil.example", "host_header": "evil.example"}},
	 "allow": false, "reasons": ["host-mismatch"]},
]

test_bypasses if _passes(bypass_cases)

_sensor := {
	"subject": {"id": "loop-12", "spiffe_id": "spiffe://city.example/zone/transport/device/loop-12"},
	"device": {"id": "loop-12"},
	"request": {"method": "GET", "host_header": "", "sni": ""},
}

_meter := {
	"subject": {"id": "meter-3", "spiffe_id": ""},
	"device": {"id": "meter-3"},
	"request": {"host_header": "", "sni": ""},
}

class_cases := [
	{"note": "sensor by SPIFFE ID to a wildcard host",
	 "patch": object.union(_sensor, {"destination": {"host": "a.ntp.city.example", "port": 443}}),
	 "allow": true, "reasons": [], "obligations": {"max_level": "L2"}},
	{"note": "wildcard does not match its base name",
	 "patch": object.union(_sensor, {"destination": {"host": "ntp.city.example", "port": 443}}),
	 "allow": false, "reasons": ["destination-not-permitted"]},
	{"note": "wildcard does not match a look-alike",
	 "patch": object.union(_sensor, {"destination": {"host": "evilntp.city.example", "port": 443}}),
	 "allow": false, "reasons": ["destination-not-permitted"]},
	{"note": "sensor may not reach the camera vendor", "patch": object.union(_sensor, {"request": {"method": "POST"}}),
	 "allow": false, "reasons": ["destination-not-permitted"]},
	{"note": "device listed by MAC (inventory)",
	 "patch": {"subject": {"authenticated": false, "type": "device", "id": "", "spiffe_id": ""},
	           "device": {"id": "02:42:0a:14:00:0c", "trust": "unknown"},
	           "request": {"host_header": "ingest.transport.city.example", "sni": ""},
	           "destination": {"host": "ingest.transport.city.example", "port": 443}},
	 "allow": true, "reasons": [], "obligations": {"max_level": "L2"}},
	{"note": "meter to its head-end network by IP",
	 "patch": object.union(_meter, {"destination": {"host": "10.40.0.9", "port": 443}}),
	 "allow": true, "reasons": [], "obligations": {"max_level": "L1"}},
	{"note": "meter to an IP outside the head-end network",
	 "patch": object.union(_meter, {"destination": {"host": "10.40.1.9", "port": 443}}),
	 "allow": false, "reasons": ["destination-not-permitted"]},
	{"note": "a name inside a CIDR entry is not an IP",
	 "patch": object.union(_meter, {"destination": {"host": "10.40.0.9.nip.example", "port": 443}}),
	 "allow": false, "reasons": ["destination-not-permitted"]},
	{"note": "meter on its second port",
	 "patch": object.union(_meter, {"destination": {"host": "headend.utility.example", "port": 8443}}),
	 "allow": true, "reasons": []},
]

test_classes if _passes(class_cases)

trust_cases := [
	{"note": "quarantined camera", "patch": {"device": {"trust": "quarantined"}},
	 "allow": false, "reasons": ["device-quarantined"]},
	{"note": "quarantined camera to a bad host", "patch": object.union(_dest("paste.example", 443), {"device": {"trust": "quarantined"}}),
	 "allow": false, "reasons": ["destination-not-permitted", "device-quarantined"]},
	{"note": "trust missing", "remove": ["device/trust"],
	 "allow": false, "reasons": ["device-trust-invalid"]},
	{"note": "trust misspelt", "patch": {"device": {"trust": "Trusted"}},
	 "allow": false, "reasons": ["device-trust-invalid"]},
	{"note": "unlisted device", "patch": {"subject": {"id": "cam-99", "spiffe_id": ""}, "device": {"id": "cam-99"}},
	 "allow": false, "reasons": ["device-unmanaged"], "obligations": {"max_level": "L1"}},
	{"note": "unidentified device", "patch": {"subject": {"authenticated": false, "id": "", "spiffe_id": ""}, "device": {"id": "", "trust": "unknown"}},
	 "allow": false, "reasons": ["device-unmanaged"]},
	{"note": "device id not a string", "patch": {"subject": {"spiffe_id": ""}, "device": {"id": 7}},
	 "allow": false, "reasons": ["device-unmanaged"]},
	{"note": "everything missing", "remove": ["request", "subject", "device", "source", "destination"],
	 "allow": false, "reasons": ["destination-malformed", "device-trust-invalid", "device-unmanaged"]},
]

test_trust if _passes(trust_cases)

# With unmanaged_class set, devices nobody listed get that class.
test_unmanaged_class_admits_unknown_devices if {
	doc := object.union(base, {"subject": {"id": "", "spiffe_id": ""}, "device": {"id": "", "trust": "unknown"}})
	d := egress.decision with input as doc with data.zonegate.egress.unmanaged_class as "camera"
	d.allow == true
	q := object.union(doc, {"device": {"trust": "quarantined"}})
	dq := egress.decision with input as q with data.zonegate.egress.unmanaged_class as "camera"
	dq.reasons == ["device-quarantined"]
}

test_decision_is_complete if {
	d := egress.decision with input as {}
	d.allow == false
	is_array(d.reasons)
	d.obligations.max_level == "L1"
	d.obligations.step_up == false
}
