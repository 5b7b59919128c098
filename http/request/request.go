// Package request reads what every HTTP surface of Lobby reads from a request — the
// API, the pages and the protocols mounted beside them: a JSON body refused as the
// contract refuses it, a knowledge document's upload, a page's limit and cursor, the bearer credential or session
// cookie, the client's address, and whether a browser's request came from this site.
package request

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lobby-dev/lobby"
)

// MaxJSONBody is the largest JSON body a route reads, from the contract.
const MaxJSONBody = 1 << 20

// SessionCookie is the cookie that carries a browser's cl_user_ session.
const SessionCookie = "lobby_session"

// WidgetCookie carries the cl_user_ session of the widget's frame, on another site's
// page: partitioned by that site, and read only by the widget's own pages.
const WidgetCookie = "lobby_widget"

// DecodeJSON reads the request's JSON body into v, refusing what the contract refuses:
// another media type, a body over 1 MiB, malformed JSON, a wrong type, an unknown field
// or anything after the value. Each error says what to fix.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return DecodeJSONUpTo(w, r, v, MaxJSONBody)
}

// DecodeJSONUpTo is DecodeJSON for a route whose body may be up to limit bytes, an
// upload's. A body that says it is longer is refused before any of it is read.
func DecodeJSONUpTo(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return lobby.Errorf(lobby.EMEDIATYPE, "send the body as JSON with Content-Type: application/json")
	}
	if r.ContentLength > limit {
		return tooLarge(limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if e := (*lobby.Error)(nil); errors.As(err, &e) {
		return e // the body's reader said what went wrong, such as its time running out
	} else if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
		return tooLarge(limit)
	} else if err != nil {
		return jsonError(err)
	}
	if !utf8.Valid(body) {
		return lobby.Errorf(lobby.EINVALID, "the body is not valid UTF-8; send JSON encoded as UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return lobby.Errorf(lobby.EINVALID, "the body must be one JSON object with nothing after it")
	}
	return checkStrings(reflect.ValueOf(v), "")
}

// checkStrings refuses a NUL character ("\u0000") in any string decoded into v, naming
// its field: no store keeps one, and text never needs one.
func checkStrings(v reflect.Value, field string) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return checkStrings(v.Elem(), field)
		}
	case reflect.String:
		if strings.IndexByte(v.String(), 0) >= 0 {
			return lobby.Errorf(lobby.EINVALID, "%s must not contain NUL characters (\\u0000)", cmp.Or(field, "the body"))
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := checkStrings(v.Index(i), fmt.Sprintf("%s[%d]", field, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if err := checkStrings(it.Key(), field); err != nil {
				return err
			}
			if err := checkStrings(it.Value(), joinField(field, fmt.Sprint(it.Key()))); err != nil {
				return err
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" {
				name = field // an embedded struct's fields are the outer object's
			} else {
				name = joinField(field, cmp.Or(name, f.Name))
			}
			if err := checkStrings(v.Field(i), name); err != nil {
				return err
			}
		}
	}
	return nil
}

func joinField(outer, name string) string {
	if outer == "" {
		return name
	}
	return outer + "." + name
}

// CheckURL refuses a request whose path or query holds a NUL character or invalid
// UTF-8, once percent-decoded: no ID, slug or search has one, and no store keeps one.
func CheckURL(r *http.Request) error {
	bad := func(s string) bool { return strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) }
	if bad(r.URL.Path) {
		return lobby.Errorf(lobby.EINVALID, "the URL's path holds a NUL character or invalid UTF-8; send the ID or slug as it was given")
	}
	for name, vs := range r.URL.Query() {
		if bad(name) {
			return lobby.Errorf(lobby.EINVALID, "a query parameter's name holds a NUL character or invalid UTF-8")
		}
		for _, v := range vs {
			if bad(v) {
				return lobby.Errorf(lobby.EINVALID, "query parameter %q holds a NUL character or invalid UTF-8; send UTF-8 text", strings.ToValidUTF8(name, "?"))
			}
		}
	}
	return nil
}

func tooLarge(limit int64) error {
	return lobby.Errorf(lobby.ETOOLARGE, "the JSON body is over %d bytes", limit)
}

func jsonError(err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return lobby.Errorf(lobby.EINVALID, "malformed JSON at byte %d: %v", syntax.Offset, syntax)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return lobby.Errorf(lobby.EINVALID, "the body must be a JSON object, not %s", typ.Value)
		}
		return lobby.Errorf(lobby.EINVALID, "field %q must be %s, not %s", field, jsonType(typ.Type.String()), typ.Value)
	case errors.Is(err, io.EOF):
		return lobby.Errorf(lobby.EINVALID, "the body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return lobby.Errorf(lobby.EINVALID, "malformed JSON: the body ends early")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return lobby.Errorf(lobby.EINVALID, "unknown field %s; check its spelling against GET /api/openapi.json",
			strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return lobby.Errorf(lobby.EINVALID, "malformed JSON: %v", err)
}

func jsonType(goType string) string {
	switch {
	case strings.Contains(goType, "[]"):
		return "an array"
	case strings.Contains(goType, "string"):
		return "a string"
	case strings.Contains(goType, "int"), strings.Contains(goType, "float"):
		return "a number"
	case strings.Contains(goType, "bool"):
		return "true or false"
	}
	return "an object"
}

// MaxPageLimit is the largest page a list route returns.
const MaxPageLimit = 100

// Page reads ?limit= (1 to MaxPageLimit; 0 when absent) and ?cursor=.
func Page(r *http.Request) (limit int, cursor string, err error) {
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		limit, err = strconv.Atoi(v)
		if err != nil || limit < 1 || limit > MaxPageLimit {
			return 0, "", lobby.Errorf(lobby.EINVALID, "limit must be a whole number from 1 to %d, not %q", MaxPageLimit, v)
		}
	}
	return limit, q.Get("cursor"), nil
}

// Seconds reads the query parameter name as a whole number of seconds from 0 to max;
// absent, it is 0.
func Seconds(r *http.Request, name string, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > max {
		return 0, lobby.Errorf(lobby.EINVALID, "%s must be a whole number of seconds from 0 to %d, not %q", name, max, v)
	}
	return n, nil
}

// Credential returns the request's bearer token from the Authorization header or a
// WebSocket handshake's subprotocol, or else the browser's session cookie (fromCookie). It returns "" when there is neither, and
// EUNAUTHORIZED for a malformed header.
func Credential(r *http.Request) (token string, fromCookie bool, err error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, t, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(t) == "" {
			return "", false, lobby.Errorf(lobby.EUNAUTHORIZED, "the Authorization header must be \"Bearer <token>\"")
		}
		return strings.TrimSpace(t), false, nil
	}
	if token := SubprotocolToken(r); token != "" {
		return token, false, nil
	}
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		return c.Value, true, nil
	}
	return "", false, nil
}

// SubprotocolPrefix marks the WebSocket subprotocol that carries a browser's bearer
// token, which a browser cannot put in a header: "bearer.<token>".
const SubprotocolPrefix = "bearer."

// SubprotocolToken returns the token a WebSocket handshake offers as the subprotocol
// "bearer.<token>", or "".
func SubprotocolToken(r *http.Request) string {
	for _, p := range strings.Split(r.Header.Get("Sec-WebSocket-Protocol"), ",") {
		if token, ok := strings.CutPrefix(strings.TrimSpace(p), SubprotocolPrefix); ok && token != "" {
			return token
		}
	}
	return ""
}

// SameOrigin reports whether a browser's request came from this site: its Origin, when
// it has one, is the request's host or baseURL's. A request without Origin is not a
// browser's cross-site request (browsers send Origin on those); "null" is refused.
func SameOrigin(r *http.Request, baseURL string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if u.Host == r.Host {
		return true
	}
	base, err := url.Parse(baseURL)
	return err == nil && base.Host != "" && u.Host == base.Host
}

// ClientIP is the address the request came from: the one WithClientIP resolved, or
// else the socket's.
func ClientIP(r *http.Request) string {
	if ip, ok := r.Context().Value(clientIPKey{}).(string); ok {
		return ip
	}
	return socketIP(r)
}

func socketIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type clientIPKey struct{}

// WithClientIP resolves the request's client address once, for every rule that reads
// it (rate limits, loopback-only routes): the socket's, unless the socket is one of
// the trusted proxies; then the nearest address in X-Forwarded-For (or else
// Forwarded's for=) that is not a trusted proxy, read from the right, since a client
// can write anything to the left.
func WithClientIP(r *http.Request, trusted []netip.Prefix) *http.Request {
	ip := socketIP(r)
	if isTrusted(ip, trusted) {
		hops := forwardedFor(r)
		for i := len(hops) - 1; i >= 0; i-- {
			ip = hops[i]
			if !isTrusted(ip, trusted) {
				break
			}
		}
	}
	return r.WithContext(context.WithValue(r.Context(), clientIPKey{}, ip))
}

func isTrusted(ip string, trusted []netip.Prefix) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	for _, p := range trusted {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// forwardedFor returns the addresses of X-Forwarded-For, or else of Forwarded's for=
// parameters, nearest client first; anything that is not an address is left out.
func forwardedFor(r *http.Request) []string {
	var hops []string
	add := func(v string) {
		v = strings.Trim(strings.TrimSpace(v), `"`)
		if strings.HasPrefix(v, "[") { // [v6]:port or [v6]
			if end := strings.IndexByte(v, ']'); end > 0 {
				v = v[1:end]
			}
		} else if host, _, err := net.SplitHostPort(v); err == nil {
			v = host
		}
		if a, err := netip.ParseAddr(v); err == nil {
			hops = append(hops, a.Unmap().String())
		}
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		for _, h := range xff {
			for _, v := range strings.Split(h, ",") {
				add(v)
			}
		}
		return hops
	}
	for _, h := range r.Header.Values("Forwarded") {
		for _, elem := range strings.Split(h, ",") {
			for _, pair := range strings.Split(elem, ";") {
				if k, v, ok := strings.Cut(strings.TrimSpace(pair), "="); ok && strings.EqualFold(k, "for") {
					add(v)
				}
			}
		}
	}
	return hops
}

// FromLoopback reports whether the request came over a loopback address.
func FromLoopback(r *http.Request) bool {
	ip := net.ParseIP(ClientIP(r))
	return ip != nil && ip.IsLoopback()
}

type idKey struct{}

// WithID returns ctx carrying the request's ID.
func WithID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, idKey{}, id)
}

// ID returns the request's ID, or "".
func ID(ctx context.Context) string {
	id, _ := ctx.Value(idKey{}).(string)
	return id
}
