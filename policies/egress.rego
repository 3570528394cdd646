# METADATA
# title: zonegate egress authorization for IoT terminals
# description: |
#   Decides every outbound HTTP(S) request a terminal makes through the egress proxy
#   (gateway/egress). Default deny; every denial carries stable kebab-case reason codes;
#   obligations.max_level is the highest sensitivity level the terminal's class may send.
#   Device classes and their destinations are in data.zonegate.egress
#   (policies/data/egress.json; format in docs/egress.md).
package zonegate.egress

# Reason codes (stable; the proxy's 403 body, its alerts and dashboards rely on them):
#   device-unmanaged           the device is not listed and no unmanaged_class is configured
#   device-quarantined         the device is quarantined (monitor or control plane)
#   device-trust-invalid       device.trust is not trusted, unknown or quarantined
#   destination-malformed      destination host or port missing or not well formed
#   destination-not-permitted  the class may not reach this host (names and IPs are distinct)
#   port-not-permitted         the host is permitted, but not on this port
#   method-not-permitted       host and port are permitted, but not this method
#   host-mismatch              the Host header or TLS SNI names another host than the destination

levels := {"L1": 1, "L2": 2, "L3": 3, "L4": 4, "L5": 5, "L6": 6}

# METADATA
# title: decision
# description: The egress proxy's entrypoint; allow, reasons and obligations.
# entrypoint: true
decision := {
	"allow": allow,
	"reasons": reasons,
	"obligations": obligations,
}

default allow := false

allow if count(_denials) == 0

reasons := sort(_denials)

obligations := {
	"max_level": _max_level,
	"step_up": false,
	"headers": {},
	"audit": _audit,
}

# --- policy data, read defensively (data.zonegate.egress also holds these rules) ---

_classes := c if {
	c := data.zonegate.egress.classes
	is_object(c)
} else := {}

_devices := d if {
	d := data.zonegate.egress.devices
	is_object(d)
} else := {}

# --- the device and its class ---

_device_id := i if {
	i := input.device.id
	is_string(i)
	i != ""
}

_spiffe_id := s if {
	s := input.subject.spiffe_id
	is_string(s)
	s != ""
}

# Listed by device id first, then by SPIFFE ID; anything else takes unmanaged_class if set.
_class_name := c if {
	c := _devices[_device_id]
} else := c if {
	c := _devices[_spiffe_id]
} else := c if {
	c := data.zonegate.egress.unmanaged_class
	is_string(c)
}

_class := c if {
	c := _classes[_class_name]
	is_object(c)
}

_max_level := l if {
	l := _class.max_level
	levels[l]
} else := "L1"

_audit if _class.audit == true

default _audit := false

# --- the destination: names are compared lower-case without trailing dots ---

_norm(h) := lower(trim_right(h, "."))

_host := h if {
	raw := input.destination.host
	is_string(raw)
	h := _norm(raw)
	h != ""
	not contains(h, "/")
	not contains(h, "@")
}

_port := p if {
	p := input.destination.port
	is_number(p)
	p == round(p)
	p > 0
	p < 65536
}

_ipv4 := `^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$`

_ip_literal if regex.match(_ipv4, _host)

_ip_literal if {
	contains(_host, ":")
	regex.match(`^[0-9a-f:.]+$`, _host)
}

_method := m if {
	m := input.request.method
	is_string(m)
}

# An exact name; "*.example.org" matches names below example.org (not example.org itself)
# and never an IP literal; "cidr" matches IP literals only.
_host_match(e) if {
	is_string(e.host)
	not startswith(e.host, "*.")
	_norm(e.host) == _host
}

_host_match(e) if {
	is_string(e.host)
	startswith(e.host, "*.")
	not _ip_literal
	endswith(_host, _norm(substring(e.host, 1, -1)))
}

_host_match(e) if {
	is_string(e.cidr)
	_ip_literal
	net.cidr_contains(e.cidr, _host)
}

_destinations := d if {
	d := _class.destinations
	is_array(d)
} else := []

_by_host := [e | some e in _destinations; is_object(e); _host_match(e)]

_by_port := [e | some e in _by_host; some p in e.ports; p == _port]

_by_method := [e | some e in _by_port; _method in object.get(e, "methods", ["GET", "HEAD"])]

# --- denials ---

_denials contains "device-unmanaged" if not _class

_denials contains "device-quarantined" if input.device.trust == "quarantined"

_denials contains "device-trust-invalid" if not input.device.trust in {"trusted", "unknown", "quarantined"}

_denials contains "destination-malformed" if not _host

_denials contains "destination-malformed" if not _port

_denials contains "destination-malformed" if not _method

_denials contains "destination-not-permitted" if {
	_class
	_host
	count(_by_host) == 0
}

_denials contains "port-not-permitted" if {
	_port
	count(_by_host) > 0
	count(_by_port) == 0
}

_denials contains "method-not-permitted" if {
	_method
	count(_by_port) > 0
	count(_by_method) == 0
}

_denials contains "host-mismatch" if {
	h := input.request.host_header
	is_string(h)
	h != ""
	_norm(h) != _host
}

_denials contains "host-mismatch" if {
	s := input.request.sni
	is_string(s)
	s != ""
	_norm(s) != _host
}
