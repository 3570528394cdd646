package zonegate.authz_test

import data.zonegate.authz

test_anonymous_denied if {
	not authz.decision.allow with input as {"subject": {"authenticated": false}}
}

# wrong on purpose: an authenticated subject is allowed by this policy
test_authenticated_denied if {
	d := authz.decision with input as {"subject": {"authenticated": true}}
	print("decision was", d)
	d.allow == false
}

test_errors if {
	to_number("x") == 1
}

todo_test_later if false
