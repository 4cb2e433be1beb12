// A header in a subfolder, included from src/main.cpp with a path through `..`.
inline int twice(int x) {
    return x * factor;
}
