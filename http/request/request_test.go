package request_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/lobby-dev/lobby/http/request"
)

// TestClientIP: forwarding headers name the client only when the socket is a trusted
// proxy, read from the right past every trusted hop.
func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	for _, tc := range []struct {
		name, socket, xff, forwarded, want string
	}{
		{"OK/NoProxy", "198.51.100.7:5000", "", "", "198.51.100.7"},
		{"OK/UntrustedSocketIgnoresHeader", "198.51.100.7:5000", "127.0.0.1", "", "198.51.100.7"},
		{"OK/TrustedProxy", "10.1.2.3:5000", "203.0.113.9", "", "203.0.113.9"},
		{"OK/SpoofedLeftmostIgnored", "10.1.2.3:5000", "127.0.0.1, 203.0.113.9", "", "203.0.113.9"},
		{"OK/TwoTrustedHops", "10.1.2.3:5000", "203.0.113.9, 10.9.9.9", "", "203.0.113.9"},
		{"OK/AllTrusted", "10.1.2.3:5000", "10.2.2.2", "", "10.2.2.2"},
		{"OK/LoopbackProxyDoesNotMakeEveryoneLocal", "127.0.0.1:5000", "203.0.113.9", "", "203.0.113.9"},
		{"OK/Forwarded", "10.1.2.3:5000", "", `for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"`, "2001:db8::1"},
		{"OK/GarbageHeader", "10.1.2.3:5000", "not an address", "", "10.1.2.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.socket
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if tc.forwarded != "" {
				r.Header.Set("Forwarded", tc.forwarded)
			}
			if got := request.ClientIP(request.WithClientIP(r, trusted)); got != tc.want {
				t.Fatalf("ClientIP = %s, want %s", got, tc.want)
			}
		})
	}
}
