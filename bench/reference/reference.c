/*
 * The C reference responder for scripts/bench: libfcgi + hiredis doing the same
 * Redis work as the Swift responder's hot paths, with nothing else.
 *   GET  /api/v1/compile/{id}  HGETALL job:{id} and result:{id}, JSON of both
 *   POST /api/v1/compile       HSET job:{id} + EXPIRE + SADD job:index:status:queued + EXPIRE
 * Started by spawn-fcgi (listening socket on fd 0); REDIS_SOCKET names Redis;
 * FCGI_THREADS threads, one Redis connection each.
 */
#include <fcgiapp.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *redis_socket;

typedef struct { char *data; size_t length, capacity; } buffer;

static void append(buffer *b, const char *text, size_t length) {
    if (b->length + length + 1 > b->capacity) {
        b->capacity = (b->length + length + 1) * 2;
        b->data = realloc(b->data, b->capacity);
    }
    memcpy(b->data + b->length, text, length);
    b->length += length;
    b->data[b->length] = 0;
}

static void append_json_string(buffer *b, const char *text, size_t length) {
    append(b, "\"", 1);
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        char escaped[8];
        if (c == '"' || c == '\\') { escaped[0] = '\\'; escaped[1] = (char)c; append(b, escaped, 2); }
        else if (c == '\n') append(b, "\\n", 2);
        else if (c < 0x20) { snprintf(escaped, sizeof escaped, "\\u%04x", c); append(b, escaped, 6); }
        else append(b, (const char *)&text[i], 1);
    }
    append(b, "\"", 1);
}

/* Hash fields as JSON members; numbers and booleans unquoted like the Swift responder. */
static int append_hash(buffer *b, redisReply *reply, int first) {
    for (size_t i = 0; reply && reply->type == REDIS_REPLY_ARRAY && i + 1 < reply->elements; i += 2) {
        redisReply *field = reply->element[i], *value = reply->element[i + 1];
        if (!first) append(b, ",", 1);
        first = 0;
        append_json_string(b, field->str, field->len);
        append(b, ":", 1);
        if (!strcmp(field->str, "exit_code") || !strcmp(field->str, "duration")) append(b, value->str, value->len);
        else if (!strcmp(field->str, "success") || !strcmp(field->str, "compiled"))
            append(b, value->str[0] == '1' ? "true" : "false", value->str[0] == '1' ? 4 : 5);
        else append_json_string(b, value->str, value->len);
    }
    return first;
}

static void respond(FCGX_Request *request, const char *status, buffer *body) {
    char head[256];
    int length = snprintf(head, sizeof head, "Status: %s\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: %zu\r\n\r\n",
                          status, body->length);
    FCGX_PutStr(head, length, request->out);
    FCGX_PutStr(body->data, (int)body->length, request->out);
}

static void *serve(void *unused) {
    (void)unused;
    redisContext *redis = redisConnectUnix(redis_socket);
    if (!redis || redis->err) { fprintf(stderr, "reference: cannot connect to %s\n", redis_socket); exit(1); }
    FCGX_Request request;
    FCGX_InitRequest(&request, 0, 0);
    unsigned int seed = (unsigned int)time(NULL) ^ (unsigned int)(size_t)&request;
    while (FCGX_Accept_r(&request) >= 0) {
        const char *method = FCGX_GetParam("REQUEST_METHOD", request.envp);
        const char *uri = FCGX_GetParam("DOCUMENT_URI", request.envp);
        buffer body = {0};
        if (method && uri && !strcmp(method, "GET") && !strncmp(uri, "/api/v1/compile/", 16)) {
            const char *id = uri + 16;
            redisAppendCommand(redis, "HGETALL job:%s", id);
            redisAppendCommand(redis, "HGETALL result:%s", id);
            redisReply *job = NULL, *result = NULL;
            redisGetReply(redis, (void **)&job);
            redisGetReply(redis, (void **)&result);
            append(&body, "{", 1);
            int first = append_hash(&body, job, 1);
            append_hash(&body, result, first);
            append(&body, "}", 1);
            respond(&request, job && job->elements ? "200 OK" : "404 Not Found", &body);
            freeReplyObject(job);
            freeReplyObject(result);
        } else if (method && !strcmp(method, "POST")) {
            char input[65536];
            int length = FCGX_GetStr(input, sizeof input, request.in);
            char id[37];
            snprintf(id, sizeof id, "%08x-%04x-4%03x-a%03x-%04x%08x", rand_r(&seed), rand_r(&seed) & 0xffff, rand_r(&seed) & 0xfff,
                     rand_r(&seed) & 0xfff, rand_r(&seed) & 0xffff, rand_r(&seed));
            redisAppendCommand(redis, "HSET job:%s id %s request %b status queued created_at 2026-01-01T00:00:00.000000000Z",
                               id, id, input, (size_t)(length > 0 ? length : 0));
            redisAppendCommand(redis, "EXPIRE job:%s 86400", id);
            redisAppendCommand(redis, "SADD job:index:status:queued %s", id);
            redisAppendCommand(redis, "EXPIRE job:index:status:queued 86400");
            for (int i = 0; i < 4; i++) { redisReply *reply; redisGetReply(redis, (void **)&reply); freeReplyObject(reply); }
            append(&body, "{\"job_id\":\"", 11);
            append(&body, id, 36);
            append(&body, "\",\"status\":\"queued\"}", 20);
            respond(&request, "202 Accepted", &body);
        } else {
            append(&body, "{\"error\":\"not_found\"}", 21);
            respond(&request, "404 Not Found", &body);
        }
        free(body.data);
        FCGX_Finish_r(&request);
    }
    return NULL;
}

int main(void) {
    redis_socket = getenv("REDIS_SOCKET");
    if (!redis_socket) { fprintf(stderr, "reference: set REDIS_SOCKET\n"); return 2; }
    int threads = getenv("FCGI_THREADS") ? atoi(getenv("FCGI_THREADS")) : 8;
    FCGX_Init();
    pthread_t ids[1024];
    for (int i = 1; i < threads && i < 1024; i++) pthread_create(&ids[i], NULL, serve, NULL);
    serve(NULL);
    return 0;
}
