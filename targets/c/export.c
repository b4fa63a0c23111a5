/*
 * A native export server with no heap endpoint: GET /export?rows=N&width=W
 * builds the whole JSON answer in memory (build_export) and writes it, so
 * each download in flight holds its answer; GET /health answers 204.
 * One thread a connection, one request a connection. SIGTERM exits
 * cleanly (heaptrack, preloaded by heap: auto, writes its trace out).
 *
 *   cc -O1 -g -pthread -o export export.c && ./export 8080
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static long param(const char *req, const char *key, long def)
{
	const char *p = strstr(req, key);
	if (!p)
		return def;
	long v = strtol(p + strlen(key), NULL, 10);
	return v > 0 ? v : def;
}

/* build_export holds the whole answer: rows of width bytes each. */
__attribute__((noinline)) static char *build_export(long rows, long width, size_t *len)
{
	size_t cap = (size_t)rows * (size_t)(width + 32) + 16;
	char *buf = malloc(cap);
	if (!buf)
		return NULL;
	size_t n = 0;
	buf[n++] = '[';
	for (long i = 0; i < rows; i++) {
		n += (size_t)sprintf(buf + n, "%s{\"id\":%ld,\"v\":\"", i ? "," : "", i);
		memset(buf + n, 'a' + (char)(i % 26), (size_t)width);
		n += (size_t)width;
		buf[n++] = '"';
		buf[n++] = '}';
	}
	buf[n++] = ']';
	*len = n;
	return buf;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *serve(void *arg)
{
	int fd = (int)(long)arg;
	char req[4096];
	size_t got = 0;
	while (got < sizeof req - 1) {
		ssize_t r = read(fd, req + got, sizeof req - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
		req[got] = 0;
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[got] = 0;
	char head[256];
	if (strncmp(req, "GET /export", 11) == 0) {
		size_t len;
		char *body = build_export(param(req, "rows=", 1000), param(req, "width=", 100), &len);
		if (body) {
			int h = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", len);
			if (write_all(fd, head, (size_t)h) == 0)
				write_all(fd, body, len);
			free(body);
		}
	} else if (strncmp(req, "GET /health", 11) == 0) {
		const char *r = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
		write_all(fd, r, strlen(r));
	} else {
		const char *r = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
		write_all(fd, r, strlen(r));
	}
	close(fd);
	return NULL;
}

static void stop(int sig)
{
	(void)sig;
	exit(0);
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 8080;
	signal(SIGTERM, stop);
	signal(SIGPIPE, SIG_IGN);
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 512) != 0) {
		perror("listen");
		return 1;
	}
	for (;;) {
		int fd = accept(ls, NULL, NULL);
		if (fd < 0)
			continue;
		pthread_t t;
		if (pthread_create(&t, NULL, serve, (void *)(long)fd) != 0) {
			close(fd);
			continue;
		}
		pthread_detach(t);
	}
}
