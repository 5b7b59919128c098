// Package devclient is the HTTP client that the load tools under bench/ share: it
// talks to a `lobby serve --dev` on loopback only, and signs in through the server's
// dev mailbox.
package devclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Client calls one server.
type Client struct {
	Base string // the server's URL, without a trailing slash
	HTTP *http.Client
}

// New returns a client of the server at base, which must be a loopback URL, that
// keeps up to conns connections to it open.
func New(base string, conns int, timeout time.Duration) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" && h != "::1" {
		return nil, fmt.Errorf("%s is not a loopback URL", base)
	}
	return &Client{Base: strings.TrimSuffix(base, "/"),
		HTTP: &http.Client{Timeout: timeout, Transport: &http.Transport{MaxIdleConnsPerHost: conns}}}, nil
}

// Do sends body, if any, as JSON and decodes the answer, which must have the status
// want.
func (c *Client) Do(ctx context.Context, method, path, token string, body any, want int) (map[string]any, error) {
	var v map[string]any
	err := c.DoInto(ctx, method, path, token, body, &v, want)
	return v, err
}

// DoInto is Do decoding the answer into out, or leaving it unread when out is nil.
func (c *Client) DoInto(ctx context.Context, method, path, token string, body, out any, want int) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s, want %d: %s", method, path, resp.Status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w: %s", method, path, err, b)
		}
	}
	return nil
}

var codeRE = regexp.MustCompile(`\b\d{6}\b`)

// SignIn signs email in with the code the server's dev mailbox shows, and returns
// the user's token.
func (c *Client) SignIn(ctx context.Context, email string) (string, error) {
	if _, err := c.Do(ctx, "POST", "/api/v1/auth/code", "", map[string]string{"email": email}, http.StatusAccepted); err != nil {
		return "", err
	}
	var mailbox struct {
		Data []struct{ To, Subject, Text string }
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", c.Base+"/dev/mailbox.json", nil)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", err
	}
	json.NewDecoder(resp.Body).Decode(&mailbox)
	resp.Body.Close()
	code := ""
	for _, m := range mailbox.Data {
		if m.To == email {
			code = codeRE.FindString(m.Subject + " " + m.Text)
			break
		}
	}
	if code == "" {
		return "", fmt.Errorf("no code for %s in the dev mailbox: is the server running with --dev and the console mailer?", email)
	}
	v, err := c.Do(ctx, "POST", "/api/v1/auth/verify", "", map[string]string{"email": email, "code": code}, http.StatusOK)
	if err != nil {
		return "", err
	}
	return v["token"].(string), nil
}
