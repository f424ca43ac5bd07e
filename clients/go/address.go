package smtpbridge

import "strings"

// SameAddress reports whether two envelope addresses are the same ignoring case (angle brackets
// and surrounding blanks dropped), as binding rules compare them.
func SameAddress(a, b string) bool { return normalizeAddress(a) == normalizeAddress(b) }

// AddressIn reports whether address is one of candidates (e.g. ev.PropertyList("blocked")),
// ignoring case.
func AddressIn(address string, candidates []string) bool {
	want := normalizeAddress(address)
	if want == "" {
		return false
	}
	for _, c := range candidates {
		if normalizeAddress(c) == want {
			return true
		}
	}
	return false
}

func normalizeAddress(a string) string {
	s := strings.TrimSpace(a)
	if strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") {
		s = s[1 : len(s)-1]
	}
	return strings.ToLower(s)
}
