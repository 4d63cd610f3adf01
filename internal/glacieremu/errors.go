package glacieremu

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// AWS error codes the emulator returns, with the HTTP status and type the
// Glacier API documents for each (api-error-responses).
const (
	CodeAccessDenied       = "AccessDeniedException"               // 403 Client
	CodeInvalidParameter   = "InvalidParameterValueException"      // 400 Client
	CodeInvalidSignature   = "InvalidSignatureException"           // 403 Client
	CodeLimitExceeded      = "LimitExceededException"              // 400 Client
	CodeMissingAuth        = "MissingAuthenticationTokenException" // 400 Client
	CodeMissingParameter   = "MissingParameterValueException"      // 400 Client
	CodeResourceNotFound   = "ResourceNotFoundException"           // 404 Client
	CodeRequestTimeout     = "RequestTimeoutException"             // 408 Client
	CodeSerialization      = "SerializationException"              // 400 Client
	CodeServiceUnavailable = "ServiceUnavailableException"         // 500 Server
	CodeThrottling         = "ThrottlingException"                 // 400 Client
	CodeUnknownOperation   = "UnknownOperationException"           // 404 Client (emulator: unsupported path)
)

const (
	codeTypeClient           = "Client"
	codeTypeServer           = "Server"
	contentTypeJSON          = "application/json"
	headerRequestID          = "x-amzn-RequestId"
	maxErrorMessageValueSize = 200
)

// apiError is an error the emulator sends to the client as AWS does: an HTTP
// status and a JSON body {"code", "message", "type"}.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s (%d): %s", e.code, e.status, e.message)
}

// errType returns "Server" for 5xx errors and "Client" otherwise.
func (e *apiError) errType() string {
	if e.status >= 500 {
		return codeTypeServer
	}
	return codeTypeClient
}

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func invalidParam(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, CodeInvalidParameter, format, args...)
}

func missingParam(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, CodeMissingParameter, format, args...)
}

func notFound(format string, args ...any) *apiError {
	return newError(http.StatusNotFound, CodeResourceNotFound, format, args...)
}

// clip shortens a client-supplied value before it is echoed in a message.
func clip(s string) string {
	if len(s) > maxErrorMessageValueSize {
		return s[:maxErrorMessageValueSize] + "..."
	}
	return s
}

// writeError sends e as the response.
func writeError(w http.ResponseWriter, e *apiError) {
	body, err := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Type    string `json:"type"`
	}{e.code, e.message, e.errType()})
	if err != nil {
		// Marshalling three strings cannot fail; keep the status regardless.
		body = []byte(`{"code":"InternalFailure","type":"Server"}`)
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(e.status)
	w.Write(body)
}
