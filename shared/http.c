/*
 * http.c - transport-independent requests and responses (see http.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "json.h"
#include "parse.h"

int http_req_init(struct http_req *req, struct http_io *io)
{
	const char *m = io->param(io->ctx, "REQUEST_METHOD");
	const char *uri = io->param(io->ctx, "REQUEST_URI");
	const char *q = io->param(io->ctx, "QUERY_STRING");
	size_t n;

	memset(req, 0, sizeof(*req));
	req->io = io;
	req->method = m ? m : "";
	req->query = q ? q : "";
	if (uri && *uri) {
		n = strcspn(uri, "?");
		if (n >= sizeof(req->path))
			return -E2BIG;
		memcpy(req->path, uri, n);
		req->path[n] = '\0';
		if (!q && uri[n] == '?')
			req->query = uri + n + 1;
	} else {
		const char *sn = io->param(io->ctx, "SCRIPT_NAME");
		const char *pi = io->param(io->ctx, "PATH_INFO");
		int len = snprintf(req->path, sizeof(req->path), "%s%s",
				   sn ? sn : "", pi ? pi : "");

		if (len < 0 || (size_t)len >= sizeof(req->path))
			return -E2BIG;
	}
	return 0;
}

const char *http_req_param(const struct http_req *req, const char *name)
{
	return req->io->param(req->io->ctx, name);
}

int http_req_body(struct http_req *req, size_t max, struct strbuf *body)
{
	const char *cl = http_req_param(req, "CONTENT_LENGTH");
	uint64_t want = 0;
	int have_len = 0;
	char buf[16384];

	if (cl && *cl) {
		if (parse_u64(cl, 0, UINT64_MAX, &want))
			return -EINVAL;
		if (want > max)
			return -E2BIG;
		have_len = 1;
	}
	for (;;) {
		size_t room = have_len ? (size_t)want - body->len : sizeof(buf);
		ssize_t n;

		if (have_len && body->len >= want)
			return 0;
		if (room > sizeof(buf))
			room = sizeof(buf);
		n = req->io->read(req->io->ctx, buf, room);
		if (n < 0)
			return -EIO;
		if (n == 0)
			return have_len && body->len < want ? -EIO : 0;
		if (body->len + (size_t)n > max)
			return -E2BIG;
		if (strbuf_add(body, buf, (size_t)n))
			return -ENOMEM;
	}
}

void http_resp_init(struct http_resp *resp)
{
	resp->status = 200;
	strbuf_init(&resp->head, 64 * 1024);
	strbuf_init(&resp->body, 0);
}

void http_resp_release(struct http_resp *resp)
{
	strbuf_release(&resp->head);
	strbuf_release(&resp->body);
}

int http_resp_header(struct http_resp *resp, const char *name,
		     const char *fmt, ...)
{
	va_list ap;
	int rc = strbuf_addstr(&resp->head, name);

	if (!rc)
		rc = strbuf_add(&resp->head, ": ", 2);
	if (!rc) {
		va_start(ap, fmt);
		rc = strbuf_vaddf(&resp->head, fmt, ap);
		va_end(ap);
	}
	return rc ? rc : strbuf_add(&resp->head, "\r\n", 2);
}

static void resp_error_body(struct http_resp *resp, const char *msg)
{
	strbuf_reset(&resp->body);
	strbuf_addstr(&resp->body, "{\"error\":");
	json_add_string(&resp->body, msg, strlen(msg));
	strbuf_addstr(&resp->body, "}");
}

void http_resp_error(struct http_resp *resp, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	resp->status = status;
	resp_error_body(resp, msg);
}

void http_resp_lcerr(struct http_resp *resp, const struct lcerr *err)
{
	int status = http_status_from_err(err->code);

	if (status >= 500 && status != 503 && status != 507)
		http_resp_error(resp, status,
				"internal error; the server log has the details");
	else
		http_resp_error(resp, status, "%s",
				err->msg[0] ? err->msg : http_reason(status));
}

int http_resp_send(struct http_io *io, struct http_resp *resp, int head_only)
{
	struct strbuf out;
	int rc;

	strbuf_init(&out, 0);
	rc = strbuf_addf(&out, "Status: %d %s\r\n", resp->status,
			 http_reason(resp->status));
	if (!rc)
		rc = strbuf_add(&out, resp->head.buf, resp->head.len);
	if (!rc && resp->status != 204 && resp->status != 304)
		rc = strbuf_addf(&out, "Content-Length: %zu\r\n", resp->body.len);
	if (!rc && resp->body.len && !strstr(resp->head.buf, "Content-Type:"))
		rc = strbuf_addstr(&out, "Content-Type: application/json\r\n");
	if (!rc)
		rc = strbuf_add(&out, "\r\n", 2);
	if (!rc && !head_only && resp->status != 204)
		rc = strbuf_add(&out, resp->body.buf, resp->body.len);
	if (!rc)
		rc = io->write(io->ctx, out.buf, out.len);
	strbuf_release(&out);
	return rc;
}

int http_method_allowed(const char *allow, const char *method)
{
	size_t n = strlen(method);
	const char *p = allow;

	if (!n)
		return 0;
	while ((p = strstr(p, method))) {
		if ((p == allow || p[-1] == ' ') && (p[n] == ',' || !p[n]))
			return 1;
		p += n;
	}
	return 0;
}

int http_status_from_err(int code)
{
	switch (code) {
	case -EINVAL:
	case -ERANGE:
	case -EILSEQ:
		return 400;
	case -EACCES:
	case -EPERM:
		return 401;
	case -ENOENT:
		return 404;
	case -E2BIG:
	case -EMSGSIZE:
		return 413;
	case -EAGAIN:
	case -EMFILE:
	case -ENFILE:
		return 503;
	case -ENOSPC:
	case -EDQUOT:
		return 507;
	default:
		return 500;
	}
}

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 507: return "Insufficient Storage";
	default: return "Unknown";
	}
}
