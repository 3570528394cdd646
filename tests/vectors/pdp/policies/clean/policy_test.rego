package zonegate.authz_test

import data.zonegate.authz

test_admin if authz.allow with input as {"subject": {"roles": ["admin"]}}

test_other if not authz.allow with input as {"subject": {"roles": ["guest"]}}
