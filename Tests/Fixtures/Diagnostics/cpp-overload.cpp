struct Point {
    int x;
    int y;
};

void show(int value);
void show(double value);

int main() {
    Point p{1, 2};
    show(p);
    unsigned count = -1;
    return count;
}
