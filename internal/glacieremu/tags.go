package glacieremu

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Vault tag limits, as AWS documents them ("Tagging Amazon S3 Glacier
// Resources"): at most 50 tags per vault; keys of 1 to 128 characters,
// values of 0 to 256, both of Unicode letters, digits, white space and
// _ . / = + - @; keys may not start with "aws:" (any case).
const (
	maxTags        = 50
	maxTagKeyLen   = 128
	maxTagValueLen = 256
	maxTagsBody    = 64 << 10
)

// validTagText reports whether s has at most max characters, all of them
// letters, digits, white space or _ . / = + - @.
func validTagText(s string, max int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsSpace(r) && !strings.ContainsRune("_./=+-@", r) {
			return false
		}
	}
	return true
}

// checkTag applies AWS's rules to one tag.
func checkTag(key, value string) *apiError {
	switch {
	case key == "":
		return invalidParam("Invalid tag key: a tag key must not be empty")
	case strings.HasPrefix(strings.ToLower(key), "aws:"):
		return invalidParam("Invalid tag key: %s: the aws: prefix is reserved", clip(key))
	case !validTagText(key, maxTagKeyLen):
		return invalidParam("Invalid tag key: %s: at most %d letters, digits, spaces and _ . / = + - @", clip(key), maxTagKeyLen)
	case !validTagText(value, maxTagValueLen):
		return invalidParam("Invalid value for tag %s: at most %d letters, digits, spaces and _ . / = + - @", clip(key), maxTagValueLen)
	}
	return nil
}

// readTagsBody reads and decodes a tags request body into v, refusing
// trailing data.
func readTagsBody(r *http.Request, v any) *apiError {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxTagsBody+1))
	if err != nil {
		return newError(http.StatusRequestTimeout, CodeRequestTimeout, "read request body: %v", err)
	}
	if len(body) > maxTagsBody {
		return invalidParam("Request body too large")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return newError(http.StatusBadRequest, CodeSerialization, "Invalid JSON in request body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return newError(http.StatusBadRequest, CodeSerialization, "Unexpected data after the JSON request body")
	}
	return nil
}

// addTags is AddTagsToVault: it sets every tag given, replacing the values
// of existing keys, or changes nothing if the vault would then have more
// than 50 tags.
func (s *Server) addTags(w http.ResponseWriter, r *http.Request, rt route) *apiError {
	var in struct {
		Tags map[string]string `json:"Tags"`
	}
	if aerr := readTagsBody(r, &in); aerr != nil {
		return aerr
	}
	for k, v := range in.Tags {
		if aerr := checkTag(k, v); aerr != nil {
			return aerr
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, aerr := s.lookupVault(rt.vault)
	if aerr != nil {
		return aerr
	}
	n := len(v.tags)
	for k := range in.Tags {
		if _, ok := v.tags[k]; !ok {
			n++
		}
	}
	if n > maxTags {
		return newError(http.StatusBadRequest, CodeLimitExceeded,
			"The request would cause the tag limit of %d for vault %s to be exceeded", maxTags, s.vaultARN(v.name))
	}
	for k, val := range in.Tags {
		v.tags[k] = val
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// removeTags is RemoveTagsFromVault: keys the vault does not have are
// ignored.
func (s *Server) removeTags(w http.ResponseWriter, r *http.Request, rt route) *apiError {
	var in struct {
		TagKeys []string `json:"TagKeys"`
	}
	if aerr := readTagsBody(r, &in); aerr != nil {
		return aerr
	}
	for _, k := range in.TagKeys {
		if k == "" || !validTagText(k, maxTagKeyLen) {
			return invalidParam("Invalid tag key: %s", clip(k))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, aerr := s.lookupVault(rt.vault)
	if aerr != nil {
		return aerr
	}
	for _, k := range in.TagKeys {
		delete(v.tags, k)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listTags is ListTagsForVault.
func (s *Server) listTags(w http.ResponseWriter, rt route) *apiError {
	s.mu.Lock()
	v, aerr := s.lookupVault(rt.vault)
	if aerr != nil {
		s.mu.Unlock()
		return aerr
	}
	tags := make(map[string]string, len(v.tags))
	for k, val := range v.tags {
		tags[k] = val
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct {
		Tags map[string]string `json:"Tags"`
	}{tags})
	return nil
}

// Tags returns a copy of the vault's tags, sorted by key in keys, for
// tests; ok is false if there is no such vault.
func (s *Server) Tags(vaultName string) (tags map[string]string, keys []string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, found := s.vaults[vaultName]
	if !found {
		return nil, nil, false
	}
	tags = make(map[string]string, len(v.tags))
	for k, val := range v.tags {
		tags[k] = val
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return tags, keys, true
}

// notImplemented answers as a web server that does not know the request
// path: 404 with an HTML page and no AWS error code. This is what moto
// answers to the tag operations, which it does not implement
// (Config.NoTags).
func notImplemented(w http.ResponseWriter) {
	body := "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
	w.Header().Del(headerRequestID)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	io.WriteString(w, body)
}

// isTagOp reports whether op is one of the vault tag operations.
func isTagOp(op Op) bool {
	return op == OpAddTagsToVault || op == OpListTagsForVault || op == OpRemoveTagsFromVault
}
