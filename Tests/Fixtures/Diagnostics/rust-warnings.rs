fn main() {
    let unused = 1;
}

fn never_called() {}
