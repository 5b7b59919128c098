// Package egress is Lobby's outbound HTTP client for webhook deliveries: it refuses to
// connect to internal addresses, checked on the address actually dialed so that DNS
// rebinding cannot get around it, never follows redirects or environment proxies, and
// reads at most a bounded part of each response.
package egress

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lobby-dev/lobby"
)

// Defaults for the zero fields of Config.
const (
	DefaultTimeout     = 15 * time.Second
	DefaultMaxResponse = 64 << 10
)

// Errors Post returns, wrapped with details; test for them with errors.Is.
var (
	// ErrBlockedAddress means the URL's host is, or resolved to, an internal address.
	ErrBlockedAddress = errors.New("blocked internal address")
	// ErrTimeout means no complete response came within the timeout, or before the
	// context's deadline.
	ErrTimeout = errors.New("timed out")
)

// Config configures a Client.
type Config struct {
	// Dev allows internal addresses (loopback, private networks...), for local agents.
	Dev bool
	// Timeout bounds a whole request, from dialing to the response's last byte read.
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// Resolver looks up host names; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// MaxResponse is how many bytes of a response body are kept. Zero means
	// DefaultMaxResponse.
	MaxResponse int64
}

// Client POSTs webhook deliveries. It is safe for concurrent use, and keeps
// connections alive between calls to the same host.
type Client struct {
	http        *http.Client
	timeout     time.Duration
	maxResponse int64
}

// NewClient returns a Client configured by cfg.
func NewClient(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxResponse <= 0 {
		cfg.MaxResponse = DefaultMaxResponse
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	dialer := &net.Dialer{
		Timeout:   cfg.Timeout,
		KeepAlive: 30 * time.Second,
		Resolver:  cfg.Resolver,
	}
	if !cfg.Dev {
		dialer.Control = refuseInternal
	}
	transport := &http.Transport{
		Proxy:                  nil, // never from the environment: the proxy would dial, unchecked
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           1000,
		MaxIdleConnsPerHost:    100, // agents get many deliveries a second each
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  cfg.Timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &Client{
		http: &http.Client{
			Transport: transport,
			Timeout:   cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // a 3xx is the agent's answer, and a failure
			},
		},
		timeout:     cfg.Timeout,
		maxResponse: cfg.MaxResponse,
	}
}

// refuseInternal is the dialer's Control hook: it runs after DNS resolution, just
// before connecting, with the address about to be connected to.
func refuseInternal(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w %q: cannot parse it", ErrBlockedAddress, address)
	}
	if lobby.IsInternalAddr(ap.Addr()) {
		return fmt.Errorf("%w %s: webhooks never go to internal addresses (loopback, private, link-local, metadata) outside --dev",
			ErrBlockedAddress, ap.Addr())
	}
	return nil
}

// Result is an agent's response to a POST.
type Result struct {
	Status int
	Header http.Header
	// Body holds the response body's first MaxResponse bytes; Truncated says there
	// was more.
	Body      []byte
	Truncated bool
	// Latency is the time from sending the request to reading the body.
	Latency time.Duration
}

// Post sends body to rawURL with header, and reads the response. Redirects are not
// followed: a 3xx comes back as it is. When the response's body can't be read to its
// end, Post returns the Result so far along with the error. Errors name the URL's host
// but not its path, query or credentials, which may hold secrets.
func (c *Client) Post(ctx context.Context, rawURL string, header http.Header, body []byte) (Result, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // url.Error repeats the URL
		}
		return Result{}, fmt.Errorf("invalid webhook URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return Result{}, errors.New("invalid webhook URL: it must be absolute, with http or https")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return Result{}, fmt.Errorf("invalid webhook request: %w", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return Result{Latency: time.Since(start)}, c.error(ctx, u, err)
	}
	defer resp.Body.Close()
	res := Result{Status: resp.StatusCode, Header: resp.Header}
	// Read one byte past the cap to learn whether there is more. When there is, the
	// body is closed unread, which costs the connection rather than waiting on a
	// large or stalled body.
	res.Body, err = io.ReadAll(io.LimitReader(resp.Body, c.maxResponse+1))
	if int64(len(res.Body)) > c.maxResponse {
		res.Body, res.Truncated = res.Body[:c.maxResponse], true
	}
	res.Latency = time.Since(start)
	if err != nil {
		return res, c.error(ctx, u, fmt.Errorf("reading the response body: %w", err))
	}
	return res, nil
}

// error describes a failed request to u, without u's path, query or credentials.
func (c *Client) error(ctx context.Context, u *url.URL, err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err // url.Error repeats the whole URL
	}
	var nerr net.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("POST to %s: %w before the context's deadline: %w", u.Host, ErrTimeout, err)
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &nerr) && nerr.Timeout():
		return fmt.Errorf("POST to %s: %w after %s: %w", u.Host, ErrTimeout, c.timeout, err)
	}
	return fmt.Errorf("POST to %s: %w", u.Host, err)
}

// RetryAfter returns the delay a Retry-After header in h asks for, given as
// delta-seconds or as an HTTP date. A date already past gives zero. It reports false
// when the header is absent or invalid.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if strings.Trim(v, "0123456789") == "" {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64(maxDelay/time.Second) {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil || t.Sub(now) > maxDelay {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// maxDelay is the longest Retry-After accepted; more is taken as garbage.
const maxDelay = 365 * 24 * time.Hour
