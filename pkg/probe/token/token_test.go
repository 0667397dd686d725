package token

import "testing"

func TestTagInStrip(t *testing.T) {
	const id = "4d7f1c1e-7a59-4a53-9b43-3c1d1a0e5f10"
	for _, tc := range []struct{ url, tagged, logged, stripped string }{
		{"http://httpbin.org/ip", "http://httpbin.org/ip?" + Param + "=" + id, "/ip?" + Param + "=" + id, "/ip"},
		{"http://httpbin.org/get?a=1", "http://httpbin.org/get?a=1&" + Param + "=" + id, "/get?a=1&" + Param + "=" + id, "/get?a=1"},
		{"https://httpbin.org", "https://httpbin.org?" + Param + "=" + id, "/?" + Param + "=" + id, "/"},
	} {
		if got := Tag(tc.url, id); got != tc.tagged {
			t.Errorf("Tag(%s) = %s, want %s", tc.url, got, tc.tagged)
		}
		if !In(tc.logged, id) || In(tc.logged, id+"0") || In("/ip", id) {
			t.Errorf("In(%s)", tc.logged)
		}
		if got := Strip(tc.logged); got != tc.stripped {
			t.Errorf("Strip(%s) = %s, want %s", tc.logged, got, tc.stripped)
		}
	}
	if got := Strip("/ip"); got != "/ip" {
		t.Errorf("Strip without query = %s", got)
	}
}
