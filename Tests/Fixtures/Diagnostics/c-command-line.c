#define LIMIT 10

int main(void) { return LIMIT; }
