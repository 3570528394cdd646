package zonegate.authz

default decision := {"allow": false, "reasons": [], "obligations": {}}

default allow := false

allow if {
	input.x == 1
	crypto.x509.parse_certificates(input.cert)
}
