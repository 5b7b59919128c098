package egress_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lobby-dev/lobby/egress/egresstest"

	"github.com/lobby-dev/lobby/egress"
)

// server starts an httptest server with h and returns it with a count of the requests
// it has received.
func server(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// stall blocks until the client goes away.
func stall(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

func TestPost(t *testing.T) {
	t.Parallel()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			if r.Method != "POST" || r.Header.Get("Webhook-Id") != "evt_1" || string(b) != `{"a":1}` {
				http.Error(w, "unexpected request", http.StatusBadRequest)
				return
			}
			w.Header().Set("X-Agent", "yes")
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"reply":"hi"}`)
		})
		c := egress.NewClient(egress.Config{Dev: true})
		h := http.Header{"Webhook-Id": {"evt_1"}, "Content-Type": {"application/json"}}
		res, err := c.Post(t.Context(), srv.URL+"/hook", h, []byte(`{"a":1}`))
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != http.StatusAccepted || string(res.Body) != `{"reply":"hi"}` || res.Truncated ||
			res.Header.Get("X-Agent") != "yes" || res.Latency <= 0 {
			t.Errorf("Result = %+v", res)
		}
	})

	t.Run("OKRedirectNotFollowed", func(t *testing.T) {
		t.Parallel()
		elsewhere, hits := server(t, func(http.ResponseWriter, *http.Request) {})
		srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL, http.StatusTemporaryRedirect)
		})
		res, err := egress.NewClient(egress.Config{Dev: true}).Post(t.Context(), srv.URL, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != http.StatusTemporaryRedirect || res.Header.Get("Location") != elsewhere.URL {
			t.Errorf("Result = %+v, want a 307 to %s", res, elsewhere.URL)
		}
		if hits.Load() != 0 {
			t.Error("the redirect was followed")
		}
	})

	t.Run("OKTruncated", func(t *testing.T) {
		t.Parallel()
		// 10 MB, then a body that never ends: reading it all would time out.
		srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
			chunk := bytes.Repeat([]byte("x"), 64<<10)
			for range 160 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			w.(http.Flusher).Flush()
			stall(w, r)
		})
		c := egress.NewClient(egress.Config{Dev: true, Timeout: 10 * time.Second})
		start := time.Now()
		res, err := c.Post(t.Context(), srv.URL, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Body) != egress.DefaultMaxResponse || !res.Truncated || res.Status != http.StatusOK {
			t.Errorf("got %d bytes, Truncated %v, status %d; want %d bytes truncated", len(res.Body), res.Truncated, res.Status, egress.DefaultMaxResponse)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Post took %s", d)
		}
	})

	t.Run("OKKeepAlive", func(t *testing.T) {
		t.Parallel()
		var conns atomic.Int64
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok")
		}))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		srv.Start()
		t.Cleanup(srv.Close)

		c := egress.NewClient(egress.Config{Dev: true})
		for range 50 {
			if _, err := c.Post(t.Context(), srv.URL, nil, []byte("{}")); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				if _, err := c.Post(t.Context(), srv.URL, nil, []byte("{}")); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n := conns.Load(); n > 10 {
			t.Errorf("60 requests opened %d connections", n)
		}
	})

	t.Run("ErrTimeout", func(t *testing.T) {
		t.Parallel()
		srv, _ := server(t, stall)
		c := egress.NewClient(egress.Config{Dev: true, Timeout: 200 * time.Millisecond})
		start := time.Now()
		_, err := c.Post(t.Context(), srv.URL, nil, nil)
		if !errors.Is(err, egress.ErrTimeout) || !strings.Contains(err.Error(), "timed out after 200ms") {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Post took %s", d)
		}
	})

	t.Run("ErrTimeoutContext", func(t *testing.T) {
		t.Parallel()
		srv, _ := server(t, stall)
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		_, err := egress.NewClient(egress.Config{Dev: true}).Post(ctx, srv.URL, nil, nil)
		if !errors.Is(err, egress.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want ErrTimeout and context.DeadlineExceeded", err)
		}
	})

	t.Run("ErrRefused", func(t *testing.T) {
		t.Parallel()
		srv, _ := server(t, func(http.ResponseWriter, *http.Request) {})
		u := srv.URL + "/hook?token=s3cret"
		srv.Close()
		_, err := egress.NewClient(egress.Config{Dev: true}).Post(t.Context(), u, nil, nil)
		if err == nil || errors.Is(err, egress.ErrTimeout) || errors.Is(err, egress.ErrBlockedAddress) {
			t.Fatalf("err = %v, want a connection error", err)
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "/hook") {
			t.Errorf("err = %q shows the URL's path or query", err)
		}
	})

	t.Run("ErrInvalidURL", func(t *testing.T) {
		t.Parallel()
		c := egress.NewClient(egress.Config{})
		for _, u := range []string{"ftp://example.com/", "/hook", "http://[::1", "https://"} {
			if _, err := c.Post(t.Context(), u, nil, nil); err == nil || !strings.Contains(err.Error(), "invalid webhook URL") {
				t.Errorf("Post(%q) err = %v, want invalid webhook URL", u, err)
			}
		}
	})
}

func TestPostBlocked(t *testing.T) {
	t.Parallel()

	t.Run("ErrBlockedAddressLoopback", func(t *testing.T) {
		t.Parallel()
		srv, hits := server(t, func(http.ResponseWriter, *http.Request) {})
		_, err := egress.NewClient(egress.Config{}).Post(t.Context(), srv.URL, nil, nil)
		checkBlocked(t, err, "127.0.0.1")
		if hits.Load() != 0 {
			t.Error("the request reached the server")
		}
	})

	t.Run("OKLoopbackInDev", func(t *testing.T) {
		t.Parallel()
		srv, hits := server(t, func(http.ResponseWriter, *http.Request) {})
		if _, err := egress.NewClient(egress.Config{Dev: true}).Post(t.Context(), srv.URL, nil, nil); err != nil {
			t.Fatal(err)
		}
		if hits.Load() != 1 {
			t.Error("the request did not reach the server")
		}
	})

	// Refused at the dial check, before connecting: none of these may time out.
	for _, tt := range []struct{ name, url, addr string }{
		{"ErrBlockedAddressPrivate", "http://10.0.0.1:9/hook?token=s3cret", "10.0.0.1"},
		{"ErrBlockedAddressMetadata", "http://169.254.169.254/latest/meta-data/", "169.254.169.254"},
		{"ErrBlockedAddressIPv6Loopback", "http://[::1]:9/", "::1"},
		{"ErrBlockedAddressIPv4Mapped", "http://[::ffff:127.0.0.1]:9/", "127.0.0.1"},
		{"ErrBlockedAddressUnspecified", "https://0.0.0.0/", "0.0.0.0"},
		{"ErrBlockedAddressLocalhost", "http://localhost:9/", "127.0.0.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, err := egress.NewClient(egress.Config{Timeout: 10 * time.Second}).Post(t.Context(), tt.url, nil, nil)
			checkBlocked(t, err, tt.addr)
			if d := time.Since(start); d > time.Second {
				t.Errorf("refusal took %s", d)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("err = %q shows the URL's query", err)
			}
		})
	}

	// rebind.example.com resolves to 127.0.0.1 when the delivery is made, whatever it
	// resolved to when the URL was registered.
	t.Run("ErrBlockedAddressRebinding", func(t *testing.T) {
		t.Parallel()
		srv, hits := server(t, func(http.ResponseWriter, *http.Request) {})
		resolver := egresstest.FakeDNS(t, "rebind.example.com.", [4]byte{127, 0, 0, 1})
		u := "http://rebind.example.com:" + port(t, srv.URL) + "/"

		_, err := egress.NewClient(egress.Config{Resolver: resolver}).Post(t.Context(), u, nil, nil)
		checkBlocked(t, err, "127.0.0.1")
		if !strings.Contains(err.Error(), "rebind.example.com") {
			t.Errorf("err = %q does not name the host", err)
		}
		if hits.Load() != 0 {
			t.Fatal("the request reached the server")
		}

		res, err := egress.NewClient(egress.Config{Resolver: resolver, Dev: true}).Post(t.Context(), u, nil, nil)
		if err != nil || res.Status != http.StatusOK || hits.Load() != 1 {
			t.Fatalf("in dev: Result %+v, err %v, %d requests; want the server reached", res, err, hits.Load())
		}
	})
}

// checkBlocked fails t unless err is ErrBlockedAddress for addr, explained.
func checkBlocked(t *testing.T, err error, addr string) {
	t.Helper()
	if !errors.Is(err, egress.ErrBlockedAddress) || errors.Is(err, egress.ErrTimeout) {
		t.Fatalf("err = %v, want ErrBlockedAddress", err)
	}
	for _, want := range []string{"blocked internal address " + addr + ":", "webhooks never go to internal addresses", "outside --dev"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %q, want it to mention %q", err, want)
		}
	}
}

func port(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name, value string
		want        time.Duration
		ok          bool
	}{
		{"OKSeconds", "120", 2 * time.Minute, true},
		{"OKZero", "0", 0, true},
		{"OKSpaces", " 5 ", 5 * time.Second, true},
		{"OKDate", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"OKDateRFC850", now.Add(time.Hour).Format(time.RFC850), time.Hour, true},
		{"OKDateANSIC", now.Add(time.Minute).Format(time.ANSIC), time.Minute, true},
		{"OKDatePast", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"Absent", "", 0, false},
		{"Negative", "-5", 0, false},
		{"Plus", "+5", 0, false},
		{"Fraction", "1.5", 0, false},
		{"Garbage", "soon", 0, false},
		{"Overflow", "99999999999999999999", 0, false},
		{"TooFar", "999999999999", 0, false},
		{"DateTooFar", now.AddDate(5, 0, 0).Format(http.TimeFormat), 0, false},
		{"DateBadZone", "Wed, 04 Mar 2026 12:01:00 PST", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tt.value != "" {
				h.Set("Retry-After", tt.value)
			}
			got, ok := egress.RetryAfter(h, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("RetryAfter(%q) = %s, %v; want %s, %v", tt.value, got, ok, tt.want, tt.ok)
			}
		})
	}
}
