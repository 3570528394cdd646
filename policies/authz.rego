# METADATA
# title: zonegate data-zone authorization
# description: |
#   Decides every request to a city data zone (DESIGN.md contract 3). Default deny;
#   every denial carries stable kebab-case reason codes. Zones are described in
#   data.zonegate.zones (policies/data/zones.json).
package zonegate.authz

# Reason codes (stable; the gateway, the audit log and dashboards rely on them):
#   unauthenticated            no verified subject
#   path-not-canonical         encoded, dot-segment or doubled separators in the path
#   zone-not-permitted         unknown zone, path outside the zone, source zone or principal not admitted
#   method-not-permitted       the principal may reach the zone, but not with this method
#   clearance-insufficient     subject clearance below the zone level (zone does not redact)
#   device-quarantined         the device is quarantined
#   device-unmanaged           unknown device, and the zone does not admit unmanaged devices
#   step-up-required           context.risk above the zone threshold (obligations.step_up)
#   reauthentication-required  auth_time older than the zone's maximum age
#   request-time-invalid       the zone needs the time and request.time is not RFC 3339
#   outside-time-window        the zone is closed at this time
#   break-glass-reason-required  break-glass used without the x-break-glass-reason header
# Informational reasons on an allow: break-glass, clearance-redacted.

levels := {"L1": 1, "L2": 2, "L3": 3, "L4": 4, "L5": 5, "L6": 6}

level_names := ["", "L1", "L2", "L3", "L4", "L5", "L6"]

break_glass_role := "break-glass"

# METADATA
# title: decision
# description: The gateway's entrypoint; allow, reasons and obligations.
# entrypoint: true
decision := {
	"allow": allow,
	"reasons": reasons,
	"obligations": obligations,
}

default allow := false

allow if {
	_authenticated
	count(_denials) == 0
}

reasons := ["unauthenticated"] if {
	not _authenticated
} else := sort(_denials) if {
	count(_denials) > 0
} else := sort(_allow_notes)

obligations := {
	"max_level": _max_level,
	"step_up": "step-up-required" in _denials,
	"headers": _headers,
	"audit": _audit,
}

# --- the shape of the input, read defensively (a missing or mistyped field denies) ---

_authenticated if input.subject.authenticated == true

_roles := r if {
	r := input.subject.roles
	is_array(r)
} else := []

_groups := g if {
	g := input.subject.groups
	is_array(g)
} else := []

# A zone name that is not a string finds no zone: every zone check then denies.
_zone := data.zonegate.zones[input.resource.zone]

_zone_known if _zone

_device_class := c if {
	input.subject.type == "device"
	c := input.device.posture["class"]
	is_string(c)
	c != ""
}

_risk := r if {
	r := input.context.risk
	is_number(r)
} else := 100

_auth_time := t if {
	t := input.subject.auth_time
	is_number(t)
} else := 0

_rfc3339 := `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$`

_now_ns := time.parse_rfc3339_ns(input.request.time) if {
	is_string(input.request.time)
	regex.match(_rfc3339, input.request.time)
}

# --- path: the PEP normalises once; the policy refuses anything that is not canonical ---

_path := p if {
	p := input.request.path
	is_string(p)
} else := ""

# One pattern, evaluated once: not absolute, empty, percent-encoded, backslash, doubled
# slash, "." or ".." segment, control character.
_path_suspicious if regex.match(`^[^/]|^$|%|\\|//|(^|/)\.\.?(/|$)|[\x00-\x1f\x7f]`, _path)

_path_in_zone if {
	_zone
	rp := input.resource.path
	is_string(rp)
	startswith(rp, "/")
	_path == concat("", ["/zones/", input.resource.zone, rp])
}

# --- grants: which principals may reach the zone, with which methods ---

_grant_matches(g) if {
	some role in g.roles
	role in _roles
}

_grant_matches(g) if {
	some group in g.groups
	group in _groups
}

_grant_matches(g) if {
	input.subject.type == "service"
	some id in g.services
	id == input.subject.spiffe_id
}

_grant_matches(g) if {
	some class in g.device_classes
	class == _device_class
}

_grant_matches(g) if g.any_authenticated == true

_grants := [g | some g in _zone.grants; _grant_matches(g)]

_method_granted if {
	some g in _grants
	input.request.method in g.methods
}

_source_ok if "*" in _zone.sources

_source_ok if input.source.zone in _zone.sources

# --- clearance: the subject's own, raised by a grant that carries one (services, devices) ---

_clearance_ranks contains levels[input.subject.clearance]

_clearance_ranks contains levels[g.clearance] if {
	some g in _grants
}

_clearance_rank := max(_clearance_ranks) if count(_clearance_ranks) > 0

_clearance_ok if _clearance_rank >= levels[_zone.level]

_redacted if {
	not _clearance_ok
	_zone.redact_above_clearance == true
	_clearance_rank
}

# --- device trust ---

_device_quarantined if input.device.trust == "quarantined"

_device_trusted if input.device.trust == "trusted"

# --- time: maximum authentication age and opening hours ---

_needs_time if _zone.max_auth_age_seconds

_needs_time if _zone.hours

_auth_too_old if {
	max_age := _zone.max_auth_age_seconds
	_now_ns - (_auth_time * 1000000000) > max_age * 1000000000
}

_inside_hours if {
	hours := _zone.hours
	clock := time.clock([_now_ns, hours.tz])
	clock[0] >= hours.from
	clock[0] < hours.to
	time.weekday([_now_ns, hours.tz]) in hours.days
}

# --- denials break-glass can never lift ---

_base_denials contains "path-not-canonical" if _path_suspicious

_base_denials contains "zone-not-permitted" if not _zone_known

_base_denials contains "zone-not-permitted" if {
	_zone_known
	not _path_suspicious
	not _path_in_zone
}

_base_denials contains "zone-not-permitted" if {
	_zone_known
	not _source_ok
}

_base_denials contains "device-quarantined" if _device_quarantined

_base_denials contains "device-unmanaged" if {
	_zone_known
	not _device_trusted
	not _device_quarantined
	not _zone.admit_unmanaged == true
}

_base_denials contains "step-up-required" if {
	_zone_known
	_risk > _zone.max_risk
}

_base_denials contains "request-time-invalid" if {
	_needs_time
	not _now_ns
}

_base_denials contains "reauthentication-required" if _auth_too_old

# --- denials a justified break-glass lifts ---

_grant_denials contains "zone-not-permitted" if {
	_zone_known
	count(_grants) == 0
}

_grant_denials contains "method-not-permitted" if {
	count(_grants) > 0
	not _method_granted
}

_grant_denials contains "clearance-insufficient" if {
	count(_grants) > 0
	not _clearance_ok
	not _redacted
}

_grant_denials contains "outside-time-window" if {
	_zone.hours
	_now_ns
	not _inside_hours
}

# --- break-glass: an emergency role, only where the zone allows it, always audited ---

_break_glass_reason := r if {
	r := trim_space(input.request.headers["x-break-glass-reason"])
	is_string(r)
	r != ""
}

_break_glass_requested if {
	break_glass_role in _roles
	_zone.break_glass == true
	count(_grant_denials) > 0
}

_break_glass_denials contains "break-glass-reason-required" if not _break_glass_reason

_break_glass_denials contains "method-not-permitted" if not input.request.method in _zone.break_glass_methods

_break_glass if {
	_break_glass_requested
	count(_break_glass_denials) == 0
}

_denials := _base_denials if {
	_break_glass
} else := _base_denials | _break_glass_denials if {
	_break_glass_requested
} else := _base_denials | _grant_denials

# --- obligations ---

_allow_notes contains "break-glass" if _break_glass

_allow_notes contains "clearance-redacted" if {
	not _break_glass
	_redacted
}

_max_level := _zone.level if {
	_break_glass
} else := level_names[min({_clearance_rank, levels[_zone.level]})] if {
	_clearance_rank
	_zone_known
} else := "L1"

_audit if _break_glass

_audit if _zone.audit == true

default _audit := false

_headers := {"x-zonegate-break-glass": _break_glass_reason} if _break_glass else := {}
