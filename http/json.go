package http

import (
	"bytes"
	"encoding/json"
	"errors"

	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lobby-dev/lobby"
)

// MaxJSONBody is the largest JSON body a route reads, from the contract.
const MaxJSONBody = 1 << 20

// decode reads the request's JSON body into v, refusing what the contract refuses:
// another media type, a body over 1 MiB, malformed JSON, a wrong type, an unknown field
// or anything after the value. Each error says what to fix.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return lobby.Errorf(lobby.EMEDIATYPE, "send the body as JSON with Content-Type: application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxJSONBody))
	if err != nil {
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
	return nil
}

func jsonError(err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		tooBig *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooBig):
		return lobby.Errorf(lobby.ETOOLARGE, "the JSON body is over %d bytes", MaxJSONBody)
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

// page reads ?limit= and ?cursor=.
func page(r *http.Request) (limit int, cursor string, err error) {
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		limit, err = strconv.Atoi(v)
		if err != nil || limit < 1 || limit > 100 {
			return 0, "", lobby.Errorf(lobby.EINVALID, "limit must be a whole number from 1 to 100, not %q", v)
		}
	}
	return limit, q.Get("cursor"), nil
}

// list is the contract's list shape.
type list[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

func newList[T any](data []T, next string) list[T] {
	l := list[T]{Data: data}
	if l.Data == nil {
		l.Data = []T{}
	}
	if next != "" {
		l.NextCursor = &next
	}
	return l
}
