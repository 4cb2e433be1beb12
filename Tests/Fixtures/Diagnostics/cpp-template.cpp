#include <string>

template <typename T>
T twice(T value) {
    return value * 2;
}

int main() {
    std::string name = "x";
    return twice(name).size();
}
