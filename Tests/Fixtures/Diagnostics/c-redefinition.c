int value = 1;
int value = 2;

int main(void) {
    long long big = 1;
    int narrow = big << 40;
    return narrow;
}
