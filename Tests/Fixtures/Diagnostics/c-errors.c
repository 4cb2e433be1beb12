#include <stdio.h>

int square(int n) { return n * n; }

int main(void) {
    int unused = 1;
    printf("%d\n", square(undeclared));
    return "text";
}
