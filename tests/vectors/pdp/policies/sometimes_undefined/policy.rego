package zonegate.authz

# The decision is defined for an empty input (so it loads) but not when input.undefined
# is set: engines must then answer PDPUnavailable, never allow.
decision := {"allow": true, "reasons": [], "obligations": {}} if input.ok

decision := {"allow": false, "reasons": ["x"], "obligations": {}} if {
	not input.ok
	not input.undefined
}
